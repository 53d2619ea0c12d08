"""Settings every service shares (`TICKETLOOP_*`) and the base for each service's own
(`TICKETLOOP_<SERVICE>_*`). Every default works on the embedded stack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "ticketloop-development-secret-do-not-use-in-production"

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
    auth_secret: SecretStr = SecretStr(DEV_SECRET)
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_ms: int = 1000
    kafka_fetch_max_wait_ms: int = 25
    kafka_linger_ms: int = Field(default=2, ge=0, le=1000)
    kafka_max_poll_interval_ms: int = Field(default=900_000, ge=10_000)
    # How often each service asks the broker for its cluster id, to notice a replaced broker.
    broker_check_seconds: float = Field(default=2.0, gt=0)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_backoff_seconds: float = 0.2
    consumer_backoff_max_seconds: float = 5.0
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_fallback_poll_seconds: float = 1.0
    outbox_retention_hours: float = 168.0
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> PlatformSettings:
        secret = self.auth_secret.get_secret_value()
        if self.env == "production" and (secret == DEV_SECRET or len(secret) < 32):
            raise ValueError("TICKETLOOP_AUTH_SECRET must be set to a random value of 32+ characters in production")
        return self


class ServiceSettings(BaseSettings):
    """Base of one service's settings; subclasses set `env_prefix` and defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    migrate_on_start: bool = True
    # uvicorn worker processes; each runs its own relay and joins the consumer group.
    http_workers: int = Field(default=1, ge=1, le=64)
    # Events applied per consumer transaction (one inbox statement, one outbox statement).
    consumer_batch_size: int = Field(default=200, ge=1, le=10_000)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Ping each pooled connection before use (a round trip per transaction; off by default).
    db_pre_ping: bool = False
    # How long start-up waits for an unavailable database before giving up.
    startup_wait_seconds: float = Field(default=300.0, ge=0)
    platform: PlatformSettings = Field(default_factory=PlatformSettings)


def embedded_database_url(database: str) -> str:
    """URL of a database on the embedded PostgreSQL at its default port."""
    return f"postgresql+asyncpg://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/{database}"
