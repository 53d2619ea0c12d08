"""retrospective's settings (`TICKETLOOP_RETROSPECTIVE_*`)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_retrospective.rectification.domain import Measure
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
    # SPEC §4: a category whose share (%) of the week's tickets, or count (`count`), stays above
    # the threshold `hot_category_weeks` weeks in a row opens a rectification item.
    hot_category_measure: Measure = Measure.SHARE
    hot_category_threshold: float = Field(default=30.0, ge=0)
    # Per-category thresholds (JSON), overriding the one above.
    hot_category_thresholds: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    hot_category_weeks: int = Field(default=3, ge=1, le=52)
    # How far back a streak's first week is looked for.
    hot_category_lookback_weeks: int = Field(default=12, ge=1, le=104)
    rectification_due_days: float = Field(default=14, gt=0, le=365)
    review_check_seconds: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _lookback_covers_a_streak(self) -> RetrospectiveSettings:
        if self.hot_category_lookback_weeks < self.hot_category_weeks:
            raise ValueError("hot_category_lookback_weeks must be at least hot_category_weeks")
        if self.hot_category_measure is Measure.SHARE and (
            self.hot_category_threshold >= 100 or any(v >= 100 for v in self.hot_category_thresholds.values())
        ):
            raise ValueError("a share threshold of 100 % or more can never be exceeded")
        return self

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
