"""feedback's settings (`TICKETLOOP_FEEDBACK_*`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import ServiceSettings, embedded_database_url

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class FeedbackSettings(ServiceSettings):
    """Where feedback listens and stores, and what the survey links it sends look like."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_FEEDBACK_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_feedback")
    http_port: int = 8004
    # The address customers reach this service at; survey links are built on it.
    public_base_url: str = Field(default="http://127.0.0.1:8004", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    survey_ttl_days: float = Field(default=14, gt=0, le=3650)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _public_links_in_production(self) -> FeedbackSettings:
        if self.platform.env == "production" and urlsplit(self.public_base_url).hostname in LOOPBACK_HOSTS:
            raise ValueError("set TICKETLOOP_FEEDBACK_PUBLIC_BASE_URL to the public address customers can reach")
        return self
