"""Settings every service shares (`TICKETLOOP_*`) and the base for each service's own
(`TICKETLOOP_<SERVICE>_*`). Every default works on the embedded stack."""

from __future__ import annotations

import os
import secrets
import socket
import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ticketloop_shared.proxies import ForwardedHeader, TrustedProxies, parse_networks

EMBEDDED_PG_PORT = 55432
EMBEDDED_BROKER_PORT = 19092


class PlatformSettings(BaseSettings):
    """The event backbone, auth secret and limits, identical for all services."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_", extra="ignore")

    env: Literal["development", "production"] = "development"
    kafka_bootstrap: str = f"127.0.0.1:{EMBEDDED_BROKER_PORT}"
    topic_prefix: str = "ticketloop"
    topic_partitions: int = Field(default=6, ge=1, le=1024)
    topic_replication: int = Field(default=1, ge=1)
    # The staff-token signing secret. Required in production; in development it is generated
    # once per install into `auth_secret_file` (never a constant anyone could look up).
    auth_secret: SecretStr | None = None
    auth_secret_file: Path = Path(".ticketloop/auth-secret")
    # The embedded PostgreSQL's password, generated once per install into this file (beside
    # `auth_secret_file`) by `ticketloop run`: a database URL naming no password, on this machine,
    # uses it (see `ServiceSettings`). A URL with a password, or another host, is left alone.
    database_password_file: Path = Path(".ticketloop/postgres-password")
    # Staff tokens always expire: the default lifetime, and the longest one a token may claim.
    token_ttl_hours: float = Field(default=12.0, gt=0)
    token_max_ttl_days: float = Field(default=90.0, gt=0)
    # The safety net under change notices (`ticketloop_shared.notices`): how often each process
    # re-reads its revoked-token list even when no notice came. A revocation reaches every
    # process through its notice within about a second; this bounds a lost one.
    revocation_refresh_seconds: float = Field(default=60.0, gt=0)
    # Same for the other caches kept fresh by notices (intake's channel keys and erasures).
    notice_safety_net_seconds: float = Field(default=60.0, gt=0)
    # How often the listening connection is checked (a connection dropped without a word is
    # noticed within this; after a reconnect every cache re-reads at once).
    notice_check_seconds: float = Field(default=30.0, gt=0)
    # Requests per minute per channel client, per staff token, and failed credentials per client
    # address (then 429 with Retry-After). Each process counts for itself; 0 turns a limit off.
    rate_channel_per_minute: int = Field(default=60_000, ge=0)
    rate_staff_per_minute: int = Field(default=1_200, ge=0)
    rate_failed_credentials_per_minute: int = Field(default=30, ge=0)
    # The proxies (addresses or CIDRs, comma-separated) whose forwarded header names the client:
    # the client is the right-most hop that is not one of them. Empty: no forwarded header is
    # believed, every request's client is its peer. See `ticketloop_shared.proxies`.
    trusted_proxies: str = ""
    # Which header those proxies maintain (the other one is ignored: a client could forge it).
    forwarded_header: ForwardedHeader = "x-forwarded-for"
    # The bearer token Prometheus scrapes `/metrics` with (then 401 without it). Unset (empty):
    # open, as on the embedded stack, whose services listen on 127.0.0.1 only.
    metrics_token: SecretStr | None = None
    kafka_session_timeout_ms: int = 6000
    # A third of the session timeout (Kafka's rule of thumb): each consumer's heartbeat is one
    # request to the broker, at idle as under load.
    kafka_heartbeat_ms: int = 2000
    # How long the broker may hold a consumer's fetch while records flow. Tansu answers a held
    # fetch only when the wait ends, not when data arrives, so this is added to every hop's
    # latency: short while busy.
    kafka_fetch_max_wait_ms: int = Field(default=25, ge=0, le=60_000)
    # After `kafka_idle_after_seconds` without a record, a consumer's fetches are held this long
    # instead (one fetch every two seconds per consumer at idle, not forty a second); the first
    # record after such a pause waits up to this long, and the next fetch is short again. Each
    # idle fetch costs the embedded broker a few ms of CPU: at 1000 the idle stack measured
    # 6.6 % of a core, at 2000 5.0 % (README, "Idle").
    kafka_idle_fetch_max_wait_ms: int = Field(default=2_000, ge=0, le=60_000)
    kafka_idle_after_seconds: float = Field(default=5.0, ge=0)
    kafka_linger_ms: int = Field(default=2, ge=0, le=1000)
    # A consumer commits its offsets at most this often while records keep coming (and at once
    # when a poll finds none and when it loses partitions in a rebalance), not after every poll
    # batch: one commit request per batch per consumer was a good share of the broker's and the
    # services' work. A crash re-reads at most this much, which the inbox turns into no-ops.
    # 0: after every batch.
    kafka_commit_interval_ms: int = Field(default=1_000, ge=0, le=60_000)
    kafka_max_poll_interval_ms: int = Field(default=900_000, ge=10_000)
    # How often each service asks the broker for its cluster id, to notice a replaced broker
    # (a relay also asks before each batch it publishes, so no row goes to a new broker first).
    broker_check_seconds: float = Field(default=5.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_backoff_seconds: float = 0.2
    consumer_backoff_max_seconds: float = 5.0
    outbox_batch_size: int = Field(default=500, ge=1)
    # Rows committed by a process that runs no relay are published within this (every process
    # that runs a relay wakes it after its own commits).
    outbox_fallback_poll_seconds: float = 5.0
    # Under load (a batch went out less than this long ago), a relay woken by a commit waits
    # until this long has passed since that batch before taking the next: fewer, fuller batches
    # (each costs a few statements and broker requests whatever its size) for at most this much
    # latency per hop. A relay woken after a quiet spell publishes at once. 0: never waits.
    outbox_linger_ms: float = Field(default=10.0, ge=0, le=1000)
    outbox_retention_hours: float = 168.0
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _secret_required_in_production(self) -> PlatformSettings:
        if self.env == "production":
            if self.auth_secret is None or len(self.auth_secret.get_secret_value()) < 32:
                raise ValueError("TICKETLOOP_AUTH_SECRET must be set to a random value of 32+ characters in production")
        elif self.auth_secret is not None and len(self.auth_secret.get_secret_value()) < 16:
            raise ValueError("TICKETLOOP_AUTH_SECRET must have at least 16 characters")
        return self

    @model_validator(mode="after")
    def _trusted_proxies_parse(self) -> PlatformSettings:
        parse_networks(self.trusted_proxies.split(","))
        return self

    @model_validator(mode="after")
    def _metrics_token_long_enough(self) -> PlatformSettings:
        if self.metrics_token is not None and not self.metrics_token.get_secret_value():
            self.metrics_token = None  # compose's `${VAR:-}` and an empty key: unset
        elif self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            raise ValueError("TICKETLOOP_METRICS_TOKEN must have at least 16 characters")
        return self

    @property
    def proxies(self) -> TrustedProxies:
        """The trusted proxies, parsed."""
        return TrustedProxies(self.trusted_proxies.split(","), self.forwarded_header)

    @cached_property
    def signing_secret(self) -> str:
        """The secret staff tokens are signed with: the setting, or this install's own file."""
        if self.auth_secret is not None:
            return self.auth_secret.get_secret_value()
        return read_or_create_secret(self.auth_secret_file)

    @property
    def token_ttl_seconds(self) -> int:
        """Default lifetime of a new staff token."""
        return int(self.token_ttl_hours * 3600)

    @property
    def token_max_ttl_seconds(self) -> int:
        """Longest lifetime a staff token may carry (revocations are kept that long)."""
        return int(self.token_max_ttl_days * 86400)


class ServiceSettings(BaseSettings):
    """Base of one service's settings; subclasses set `env_prefix` and defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    migrate_on_start: bool = True
    # uvicorn worker processes; each runs its own relay and joins the consumer group.
    http_workers: int = Field(default=1, ge=1, le=64)
    # Whether this process consumes events. Off for an HTTP-only process when a separate worker
    # process of the same service consumes (so requests and events do not share one event loop).
    consumer_enabled: bool = True
    # Events applied per consumer transaction (one inbox statement, one outbox statement).
    consumer_batch_size: int = Field(default=200, ge=1, le=10_000)
    # Slices of the outbox this process's relay publishes side by side (`messaging.outbox`):
    # more lets a burst go out as several batches in flight, at one claim query per slice per
    # wake-up; replicas share the slices whatever counts they run with.
    outbox_partitions: int = Field(default=1, ge=1, le=64)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Connections for one-statement hot writes in autocommit (0: the service needs none).
    db_statement_pool_size: int = Field(default=0, ge=0, le=200)
    # Ping each pooled connection before use (a round trip per transaction; off by default).
    db_pre_ping: bool = False
    # How long start-up waits for an unavailable database before giving up.
    startup_wait_seconds: float = Field(default=300.0, ge=0)
    # This process's name among the replicas of its service, carried by its logs, metrics
    # (`ticketloop_replica_info`), consumer client id and trace resource. Empty: the host name
    # (a pod's name on Kubernetes); the embedded supervisor names each process it starts.
    replica_id: str = Field(default="", max_length=100)
    # Retention (`ticketloop_shared.retention`): the job applying the service's schedule runs this
    # often, erasing or deleting at most `retention_batch` records per transaction.
    retention_enabled: bool = True
    retention_interval_seconds: float = Field(default=3_600.0, gt=0)
    retention_batch: int = Field(default=500, ge=1, le=10_000)
    # How long audit log entries are kept (days; 0: forever). Three years: long enough to answer
    # who read or erased a customer's data through a complaint or an audit, then gone.
    retain_audit_days: float = Field(default=3 * 365, ge=0)
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @model_validator(mode="after")
    def _local_password(self) -> ServiceSettings:
        self.database_url = with_local_password(self.database_url, self.platform.database_password_file)
        return self

    @property
    def replica(self) -> str:
        """`replica_id`, or the host name when it is not set."""
        return self.replica_id or socket.gethostname()


def read_or_create_secret(path: Path) -> str:
    """A random secret kept in `path`, created (mode 0600) on first use; processes racing to
    create it all end up reading the one that won."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    for _ in range(50):  # the winner may still be writing
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"secret file {path} is empty")


_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def with_local_password(url: str, password_file: Path) -> str:
    """`url` with the embedded PostgreSQL's password when it names none and points at this machine
    and the install's password file exists (it is never created here: only the server's starter
    makes it). So tools and services started with the default URL reach `ticketloop run`'s server,
    which refuses a connection without the password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # not a URL: the engine says so, with its own message
    if parsed.password is not None or parsed.host not in _LOCAL_HOSTS or not password_file.is_file():
        return url
    password = password_file.read_text().strip()
    if not password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def embedded_database_url(database: str) -> str:
    """URL of a database on the embedded PostgreSQL at its default port (its password comes from
    `PlatformSettings.database_password_file`)."""
    return f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/{database}"
