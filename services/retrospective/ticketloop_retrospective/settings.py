"""retrospective's settings (`TICKETLOOP_RETROSPECTIVE_*`)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_retrospective.reports.domain import DEFAULT_PAIN_CLASSES, PainClass
from ticketloop_shared.settings import ServiceSettings, embedded_database_url


class RetrospectiveSettings(ServiceSettings):
    """Where retrospective listens and stores, and whose calendar its reports follow."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_RETROSPECTIVE_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_retrospective")
    http_port: int = 8005
    # An IANA zone name: a report week runs from Monday 00:00 to Monday 00:00 on this zone's clock.
    report_timezone: str = "UTC"
    # Category → pain-point class (process, service, product, emotional), as JSON; a category
    # left out counts as service.
    pain_classes: dict[str, PainClass] = Field(default_factory=lambda: dict(DEFAULT_PAIN_CLASSES))

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)
        return value

    @property
    def report_zone(self) -> tzinfo:
        """The zone report windows are cut in."""
        return load_zone(self.report_timezone)


def load_zone(name: str) -> tzinfo:
    """An IANA zone; a bad name fails at start-up rather than on the first report request."""
    if name == "UTC":
        return UTC  # needs no time zone database, so the default works on any host
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'") from exc
