"""feedback's settings (`TICKETLOOP_FEEDBACK_*`)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.sealing import master_key
from ticketloop_shared.settings import ServiceSettings, embedded_database_url, read_or_create_secret

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class FeedbackSettings(ServiceSettings):
    """Where feedback listens and stores, what the survey links it sends look like, when each kind
    of survey goes out (SPEC §3) and what counts as a low score."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_FEEDBACK_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_feedback")
    http_port: int = 8004
    # The address customers reach this service at; survey links are built on it.
    public_base_url: str = Field(default="http://127.0.0.1:8004", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    survey_ttl_days: float = Field(default=14, gt=0, le=3650)
    # A problem's survey goes out this long after its resolution (SPEC §3: within 48 hours).
    ticket_survey_delay_minutes: float = Field(default=120, ge=0, le=48 * 60)
    # A new customer's relationship survey: this long after the first cooperation.
    onboarding_survey_delay_days: float = Field(default=7, ge=0, le=365)
    # Where quarter ends (the high-value survey) and customers' start dates are reckoned.
    survey_time_zone: str = "UTC"
    # One reminder of a survey still unanswered this long after it was sent.
    reminder_delay_hours: float = Field(default=72, gt=0, le=24 * 365)
    # At or under these an answer opens a recovery ticket (feedback.low_score).
    low_score_csat_max: int = Field(default=2, ge=1, le=5)
    low_score_overall_max: int = Field(default=6, ge=1, le=10)
    low_score_nps_max: int = Field(default=6, ge=0, le=10)
    # The survey timer sleeps until the next due send or reminder, but never longer than this:
    # the most a survey made due sooner by another replica (or an injected clock) waits to be
    # noticed. A survey already due when scheduled is sent by the transaction that schedules it;
    # the delays it waits out are hours, so a few seconds cost nothing but an idle wake.
    survey_timer_max_idle_seconds: float = Field(default=5.0, gt=0, le=60)
    # Surveys the timer sends or reminds per transaction; a full batch is followed at once.
    survey_timer_batch: int = Field(default=200, ge=1, le=10_000)
    survey_timer_enabled: bool = True
    # The key that wraps every customer's data key (what customers write in surveys is sealed
    # with it, like intake's tickets, but under feedback's own key). Required in production; in
    # development it is generated once per install into `master_key_file`.
    master_key: SecretStr | None = None
    master_key_file: Path = Path(".ticketloop/feedback-master-key")
    # Retention (retention/service.py; days, 0: forever): what customers wrote in an answer is
    # erased in place this long after answering (the scores stay).
    retain_survey_texts_days: float = Field(default=365, ge=0)
    # How often the job looks for texts stored before sealing began (it seals them in place).
    seal_clear_texts_seconds: float = Field(default=60.0, gt=0, le=86_400)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("survey_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The survey time zone."""
        return ZoneInfo(self.survey_time_zone)

    @property
    def ticket_survey_delay(self) -> timedelta:
        """How long after a resolution its survey goes out."""
        return timedelta(minutes=self.ticket_survey_delay_minutes)

    @property
    def onboarding_survey_delay(self) -> timedelta:
        """How long after the first cooperation a new customer is surveyed."""
        return timedelta(days=self.onboarding_survey_delay_days)

    @property
    def reminder_delay(self) -> timedelta:
        """How long a sent survey waits unanswered before its one reminder."""
        return timedelta(hours=self.reminder_delay_hours)

    @model_validator(mode="after")
    def _public_links_in_production(self) -> FeedbackSettings:
        if self.platform.env == "production" and urlsplit(self.public_base_url).hostname in LOOPBACK_HOSTS:
            raise ValueError("set TICKETLOOP_FEEDBACK_PUBLIC_BASE_URL to the public address customers can reach")
        if self.platform.env == "production" and (
            self.master_key is None or len(self.master_key.get_secret_value()) < 32
        ):
            raise ValueError(
                "TICKETLOOP_FEEDBACK_MASTER_KEY must be set to a random value of 32+ characters in production"
            )
        return self

    @cached_property
    def data_master_key(self) -> bytes:
        """The 32-byte key wrapping customers' data keys."""
        secret = self.master_key.get_secret_value() if self.master_key else read_or_create_secret(self.master_key_file)
        return master_key(secret, service="feedback")
