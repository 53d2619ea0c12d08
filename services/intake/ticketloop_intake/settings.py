"""intake's settings (`TICKETLOOP_INTAKE_*`)."""

from __future__ import annotations

import hashlib
import hmac
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_intake.attachments.schemas import MAX_LISTED
from ticketloop_shared.sealing import master_key
from ticketloop_shared.settings import ServiceSettings, embedded_database_url, read_or_create_secret

DEV_CHANNEL_KEY = "tl-dev-channel-key"
MIB = 1_048_576


class IntakeSettings(ServiceSettings):
    """Where intake listens and stores, and how it numbers tickets."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_INTAKE_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_intake")
    http_port: int = 8001
    # `POST /v1/tickets` writes ticket, timeline, outbox row (and idempotency key) in one
    # autocommit statement on these connections.
    db_statement_pool_size: int = Field(default=10, ge=1, le=200)
    ticket_number_prefix: str = Field(default="T", pattern=r"^[A-Z]{1,4}$")
    # A channel client created at start with this key, for development and the 5-minute tour.
    dev_channel_key: SecretStr | None = SecretStr(DEV_CHANNEL_KEY)
    # How long a verified channel key is trusted without asking the database again.
    channel_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # After a channel key is rotated, the keys it replaces stay valid this long (then refused).
    channel_key_overlap_hours: float = Field(default=24.0, ge=0, le=30 * 24)
    # How often each process writes when its channel keys were last used (at most one write per
    # key per interval; requests themselves never write it).
    channel_key_last_used_seconds: float = Field(default=60.0, ge=1, le=3_600)
    # How long an Idempotency-Key is remembered (a retry after that creates a new ticket).
    idempotency_ttl_hours: float = Field(default=48.0, gt=0)
    # The key that wraps every customer's data key. Required in production; in development it is
    # generated once per install into `master_key_file`.
    master_key: SecretStr | None = None
    master_key_file: Path = Path(".ticketloop/intake-master-key")
    # A customer writing on a resolved (or closed) ticket reopens it until this long after its
    # resolution; the confirm-or-reopen link lives as long.
    reopen_window_days: float = Field(default=7.0, gt=0, le=365)
    # A resolved ticket the customer neither confirms nor reopens closes by itself after this.
    auto_close_days: float = Field(default=7.0, gt=0, le=365)
    # How often the auto-close sweep looks (it closes at most `sweep_batch` tickets per run).
    auto_close_interval_seconds: float = Field(default=60.0, gt=0)
    sweep_batch: int = Field(default=500, ge=1, le=10_000)
    # A report of the same problem (customer, category, subject) while one is open, or within
    # this long after it was resolved, is added to that ticket (a repeat contact).
    repeat_window_days: float = Field(default=7.0, ge=0, le=365)
    # A report whose subject is at least this alike (pg_trgm's trigram similarity, 0-1) to one of
    # the customer's tickets in the same category is the same problem in other words (an equal
    # subject, words in any order, always is). 0.5: "my invoice is wrong" matches "Invoice is
    # wrong!" (0.84) and "still no refund received" "refund not received" (0.64), while
    # "invoice address change" does not match "invoice is wrong" (0.26). 1: the same words only.
    repeat_similarity: float = Field(default=0.5, gt=0, le=1)
    # The address customers reach intake at; their confirm-or-reopen links are built on it.
    public_base_url: str = Field(default="http://127.0.0.1:8001", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    # Retention (retention/service.py; days, 0: forever). A closed ticket's personal texts are
    # erased in place this long after closing (the ticket and its facts stay), and a customer's
    # key is destroyed once every ticket of theirs closed this long ago.
    retain_closed_ticket_texts_days: float = Field(default=2 * 365, ge=0)
    # A finished webhook delivery (payload and attempt log) is deleted this long after it ended.
    retain_webhook_deliveries_days: float = Field(default=30, ge=0)
    # How long an unwrapped customer key is reused without asking the database (erasures reach
    # every process's cache within about a second regardless).
    customer_key_cache_seconds: float = Field(default=600.0, ge=0, le=86_400)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    # Knowledge base (knowledge/): how often each process re-checks whether any article is active,
    # so a ticket's suggestion lookup costs no query at all while the base is empty.
    knowledge_guard_seconds: float = Field(default=5.0, gt=0, le=300)
    # The language (BCP-47 tag) of an article written without one.
    knowledge_default_language: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
    # Counter queues (counters/): past this wait, `care.wait_exceeded` is emitted once per entry.
    counter_wait_limit_minutes: float = Field(default=20.0, gt=0, le=1_440)
    # The estimate per queue position when a counter has too little recent service history.
    counter_default_service_minutes: float = Field(default=5.0, gt=0, le=600)
    # The service rate is the mean interval between the last `sample` serves within `window`.
    counter_rate_window_minutes: float = Field(default=60.0, gt=0, le=1_440)
    counter_rate_sample: int = Field(default=10, ge=2, le=200)
    # How often the wait-exceeded sweep runs.
    counter_sweep_seconds: float = Field(default=15.0, gt=0, le=3_600)
    # Attachments (attachments/): files on customer messages and replies. The two routes that take
    # them accept bodies up to `attachment_body_bytes` (base64 makes files a third larger).
    attachment_max_bytes: int = Field(default=10 * MIB, ge=1, le=100 * MIB)
    attachment_max_count: int = Field(default=5, ge=0, le=MAX_LISTED)
    attachment_max_total_bytes: int = Field(default=20 * MIB, ge=1, le=200 * MIB)
    # Canned replies (reply_templates/): the zone deadlines are written in (e.g. `Europe/Warsaw`).
    reply_time_zone: str = "UTC"

    @field_validator("reply_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Warsaw')") from None
        return value

    @property
    def attachment_body_bytes(self) -> int:
        """The body limit of the routes that take attachments: every file at its largest in
        base64, plus room for the message's text and the JSON around it."""
        return self.attachment_max_total_bytes * 4 // 3 + self.attachment_max_count * 2_048 + 256 * 1_024

    # Webhooks (webhooks/). Outbound calls to loopback, link-local, private, multicast or reserved
    # addresses are refused (at subscription and before each send) unless allowed; unset, they
    # are allowed in development only.
    webhooks_allow_private: bool | None = None
    # Attempts per delivery, and the retry schedule: delay n is uniform between base·factor^(n-2)
    # and base·factor^(n-1), capped (60 s, ×3, 12 h cap, 10 attempts: at least 30 h in all).
    webhooks_max_attempts: int = Field(default=10, ge=1, le=50)
    webhooks_retry_base_seconds: float = Field(default=60.0, gt=0, le=86_400)
    webhooks_retry_factor: float = Field(default=3.0, ge=1, le=10)
    webhooks_retry_cap_seconds: float = Field(default=43_200.0, gt=0, le=7 * 86_400)
    # An endpoint with no success for this long (while failing) is disabled.
    webhooks_disable_after_hours: float = Field(default=72.0, gt=0, le=90 * 24)
    # One request's time limit (connect, write, read), and the largest body sent.
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhooks_max_payload_bytes: int = Field(default=256 * 1024, ge=1024, le=4 * 1024 * 1024)
    # How much of a receiver's answer each attempt's log keeps.
    webhooks_response_log_chars: int = Field(default=1024, ge=0, le=65_536)
    # The delivery worker: how often it looks when idle (deliveries written by this process wake
    # it at once, after `webhooks_linger_seconds` to gather what else commits meanwhile; an
    # operator's test event, resume or replay wakes every intake process by a PostgreSQL notice;
    # retries wake it when they fall due; the poll is the safety net that finds what another
    # replica wrote and could not send, once its lease ends), how many deliveries it claims at
    # once, and how many requests it has in flight.
    webhooks_worker_enabled: bool = True
    webhooks_poll_seconds: float = Field(default=10.0, gt=0, le=60)
    webhooks_linger_seconds: float = Field(default=0.02, ge=0, le=1)
    webhooks_batch: int = Field(default=100, ge=1, le=1_000)
    webhooks_concurrency: int = Field(default=50, ge=1, le=500)
    # After a secret rotation, the old secret still signs (beside the new one) for this long.
    webhooks_secret_overlap_hours: float = Field(default=24.0, ge=0, le=30 * 24)
    # The consumer that fans catalog events out to admin subscriptions (its own group).
    webhooks_admin_consumer: bool = True
    # feedback's API: a channel's `survey.due` delivery fetches its survey link there when it is
    # sent (notifier token signed with the install's secret), so no link is stored or put on a topic.
    feedback_url: str = Field(default="http://127.0.0.1:8004", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    @property
    def webhooks_private_allowed(self) -> bool:
        """Whether webhook URLs may point at private addresses (development, tests)."""
        if self.webhooks_allow_private is not None:
            return self.webhooks_allow_private
        return self.platform.env == "development"

    @field_validator("feedback_url")
    @classmethod
    def _feedback_url(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("dev_channel_key", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _no_dev_key_in_production(self) -> IntakeSettings:
        key = self.dev_channel_key
        if self.platform.env == "production" and key is not None and key.get_secret_value() == DEV_CHANNEL_KEY:
            raise ValueError("unset TICKETLOOP_INTAKE_DEV_CHANNEL_KEY (or set a real key) in production")
        if self.platform.env == "production" and (
            self.master_key is None or len(self.master_key.get_secret_value()) < 32
        ):
            raise ValueError(
                "TICKETLOOP_INTAKE_MASTER_KEY must be set to a random value of 32+ characters in production"
            )
        return self

    @cached_property
    def customer_link_key(self) -> bytes:
        """The key that signs customers' confirm-or-reopen links (derived, never the master itself)."""
        return hmac.new(self.data_master_key, b"ticketloop-intake-customer-link", hashlib.sha256).digest()

    @cached_property
    def customer_pseudonym_key(self) -> bytes:
        """The key of pseudonymous customer ids (`customers/domain.py`): derived from the master
        key, so a pseudonym can be neither reversed nor tested without it."""
        return hmac.new(self.data_master_key, b"ticketloop-intake-customer-pseudonym", hashlib.sha256).digest()

    @cached_property
    def search_key(self) -> bytes:
        """The key of the ticket search index (`tickets/search_index.py`): derived from the master
        key, which only intake holds (the staff-token secret is shared by every service)."""
        return hmac.new(self.data_master_key, b"ticketloop-intake-search-index", hashlib.sha256).digest()

    @cached_property
    def data_master_key(self) -> bytes:
        """The 32-byte key wrapping customers' data keys."""
        secret = self.master_key.get_secret_value() if self.master_key else read_or_create_secret(self.master_key_file)
        return master_key(secret)
