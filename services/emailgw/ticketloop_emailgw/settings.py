"""The gateway's settings (`TICKETLOOP_EMAILGW_*`). Every default works beside `make run`."""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ticketloop_emailgw.threads import CATEGORIES, NEEDS, URGENCIES
from ticketloop_shared.settings import read_or_create_secret

# intake's development channel client (every channel, `make run` only); production sets its own.
DEV_CHANNEL_KEY = "tl-dev-channel-key"


class EmailGatewaySettings(BaseSettings):
    """Where the gateway listens (SMTP in, webhooks in), which intake it talks to with which key,
    which relay sends its mail, and what a new mail becomes when its subject gives no hint."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_EMAILGW_", extra="ignore")

    env: Literal["development", "production"] = "development"
    # The webhook receiver (and /health/*).
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8010, ge=0, le=65535)
    # Mail from customers arrives here (point an MX or a forwarding rule at it).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    # Larger mail is refused with 552 before it is read to the end.
    max_message_bytes: int = Field(default=1_048_576, ge=1024, le=50 * 1_048_576)
    # intake's public API and the gateway's channel client key (`POST /v1/channel-clients`, channel `email`).
    intake_url: str = Field(default="http://127.0.0.1:8001", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    channel_key: SecretStr = SecretStr(DEV_CHANNEL_KEY)
    intake_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # The secret of the gateway's webhook subscription (`whsec_<base64>`, as intake shows it).
    # Unset: every delivery is refused with 401 (nothing is sent unverified).
    webhook_secret: SecretStr | None = None
    # A delivery whose `webhook-timestamp` is further than this from now is refused (replays).
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # How many delivery ids are remembered to drop a redelivery already mailed (memory-bounded).
    webhook_dedup_size: int = Field(default=10_000, ge=1, le=1_000_000)
    # At start-up, subscribe the receiver's own URL with the channel key (development: `make run`).
    subscribe_on_start: bool = False
    # Where that subscription's secret is kept between starts (development only).
    webhook_secret_file: Path = Path(".ticketloop/emailgw-webhook-secret")
    # The receiver's address as intake reaches it (subscriptions); default: http://<http_host>:<http_port>.
    public_url: str | None = None
    # The SMTP relay every outgoing mail goes through.
    relay_host: str = "127.0.0.1"
    relay_port: int = Field(default=2526, ge=0, le=65535)
    relay_username: str | None = None
    relay_password: SecretStr | None = None
    relay_starttls: bool = False
    relay_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # Development: run a relay on relay_host:relay_port inside the gateway that writes each mail
    # to this folder as one `.eml` file (`make run`); unset in production.
    dev_relay_dir: Path | None = None
    # Who the mail comes from, and the domain of every Message-ID the gateway writes.
    from_address: str = Field(default="support@ticketloop.localhost", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    from_name: str = Field(default="ticketloop support", max_length=100)
    mail_domain: str = Field(default="ticketloop.localhost", pattern=r"^[A-Za-z0-9.-]+$")
    # Keys the tags in outgoing Message-IDs and the pseudonymous customer ids (stable per install).
    # Unset in development: generated once into `thread_secret_file`.
    thread_secret: SecretStr | None = None
    thread_secret_file: Path = Path(".ticketloop/emailgw-thread-secret")
    # What a new mail becomes when its subject carries no hint (`[urgent]`, `[billing]`, `[refund]`).
    default_category: str = "other"
    default_need: str = "information"
    default_urgency: str = "normal"
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("intake_url", "public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return None if value is None else value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_secret(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _production(self) -> EmailGatewaySettings:
        for name, value, known in (
            ("default_category", self.default_category, CATEGORIES),
            ("default_need", self.default_need, NEEDS),
            ("default_urgency", self.default_urgency, URGENCIES),
        ):
            if value not in known:
                raise ValueError(f"{name} {value!r} is not one of {', '.join(known)}")
        if self.env == "production":
            if self.channel_key.get_secret_value() == DEV_CHANNEL_KEY:
                raise ValueError("TICKETLOOP_EMAILGW_CHANNEL_KEY must be the gateway's own channel key in production")
            if self.thread_secret is None or len(self.thread_secret.get_secret_value()) < 32:
                raise ValueError("TICKETLOOP_EMAILGW_THREAD_SECRET must be 32+ random characters in production")
            if self.webhook_secret is None:
                raise ValueError("TICKETLOOP_EMAILGW_WEBHOOK_SECRET must be set in production")
            if self.dev_relay_dir is not None:
                raise ValueError("TICKETLOOP_EMAILGW_DEV_RELAY_DIR is for development only")
        return self

    @cached_property
    def thread_key(self) -> bytes:
        """The key of Message-ID tags and customer ids: the setting, or this install's own file."""
        if self.thread_secret is not None:
            return self.thread_secret.get_secret_value().encode()
        return read_or_create_secret(self.thread_secret_file).encode()

    @property
    def webhook_key(self) -> bytes | None:
        """The subscription secret's raw bytes (the base64 after `whsec_`)."""
        return None if self.webhook_secret is None else decode_secret(self.webhook_secret.get_secret_value())

    @property
    def receiver_url(self) -> str:
        """The webhook endpoint as intake should call it."""
        base = self.public_url or f"http://{self.http_host}:{self.http_port}"
        return f"{base}/webhooks"


def decode_secret(value: str) -> bytes:
    """`whsec_<base64>` (Standard Webhooks) or bare base64, as raw bytes."""
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret must be whsec_<base64> (as intake shows it)") from None
    if len(key) < 16:
        raise ValueError("the webhook secret is shorter than 16 bytes")
    return key
