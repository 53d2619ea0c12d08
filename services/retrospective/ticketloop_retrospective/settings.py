"""retrospective's settings (`TICKETLOOP_RETROSPECTIVE_*`)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ticketloop_retrospective.goals.domain import CORE_TOUCHPOINTS, GOALS, InvalidBaseline, parse_baseline
from ticketloop_retrospective.rectification.domain import Measure
from ticketloop_retrospective.reports.domain import DEFAULT_PAIN_CLASSES, PainClass
from ticketloop_shared.settings import ServiceSettings, embedded_database_url
from ticketloop_shared.vocabulary import Channel


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

    # Segments (SPEC §5). new: a relationship shorter than this many months.
    new_for_months: int = Field(default=3, ge=1, le=120)
    # high_value: a relationship longer than this many months...
    loyal_after_months: int = Field(default=12, ge=1, le=600)
    # ...or an annual spend in this top share of the customers whose spend is known,
    top_spend_share: float = Field(default=0.2, gt=0, le=1)
    # counted only once at least this many customers have a known spend (with two customers,
    # "top 20%" would make one of them high-value by definition).
    top_spend_min_customers: int = Field(default=5, ge=1)
    # How old the cached top-spend threshold may get before a consumer recomputes it (0: on
    # every change; the daily sweep always recomputes it first).
    top_spend_refresh_minutes: float = Field(default=60.0, ge=0)
    # Orders (`order.recorded`): a customer's annual spend is the sum of their purchases of the last
    # 365 days in this ISO 4217 currency; orders in others are left out (no exchange rates are
    # kept) and counted in `ticketloop_retrospective_orders_other_currency_total`.
    reporting_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # potential's growth signal: a purchase within this many days (or spend rising quarter on quarter).
    potential_recent_order_days: int = Field(default=90, ge=1, le=3650)
    # churn_risk: no customer interaction for this many days,
    churn_silence_days: int = Field(default=90, ge=1, le=3650)
    # or satisfaction (0–100, the average of the customer's last `satisfaction_window` answers)
    # below this, or an objection still open.
    churn_satisfaction_below: float = Field(default=60.0, ge=0, le=100)
    satisfaction_window: int = Field(default=3, ge=1, le=100)
    # The sweep that applies the time-based rules (tenure crossing 3 or 12 months, silence, the
    # spend threshold moving) re-evaluates each customer once per this many hours; it checks
    # for work every `segment_sweep_check_seconds`, `segment_sweep_batch` customers a transaction.
    segment_sweep_every_hours: float = Field(default=24.0, gt=0)
    segment_sweep_check_seconds: float = Field(default=300.0, gt=0)
    segment_sweep_batch: int = Field(default=500, ge=1, le=10_000)

    # Care cadences (SPEC §5): new customers daily for the first days of the relationship, then
    # every `care_new_every_days`; high-value twice a month; churn-risk twice a week. A segment
    # with no interval (potential, by default) has no cadence.
    care_new_daily_for_days: int = Field(default=14, ge=0, le=365)
    care_new_every_days: float = Field(default=7.0, gt=0, le=365)
    care_high_value_every_days: float = Field(default=15.0, gt=0, le=365)
    care_churn_risk_every_days: float = Field(default=3.5, gt=0, le=365)
    care_potential_every_days: float | None = Field(default=None, gt=0, le=365)
    # What intake files a cadence contact under (one of its categories).
    care_category: str = "other"
    # The care timer sleeps until the next due contact, never longer than this; it handles at
    # most `care_timer_batch` schedules (and as many anticipation moments per rule) a transaction.
    care_timer_max_idle_seconds: float = Field(default=30.0, gt=0, le=3600)
    care_timer_batch: int = Field(default=200, ge=1, le=10_000)
    care_timer_enabled: bool = True
    # A care contact completed with `no_answer` is tried again, backing off: the retry after the
    # n-th unanswered attempt is due `care_retry_first_days` × `care_retry_factor`^(n−1) later
    # (1, 2, 4… days); after `care_max_attempts` unanswered attempts the slot stops, recorded as
    # `unreachable`. A `follow_up` outcome makes a follow-up contact due this many days later
    # (none when unset). Env: TICKETLOOP_RETROSPECTIVE_CARE_RETRY_FIRST_DAYS and so on.
    care_retry_first_days: float = Field(default=1.0, gt=0, le=365)
    care_retry_factor: float = Field(default=2.0, ge=1, le=10)
    care_max_attempts: int = Field(default=3, ge=1, le=20)
    care_follow_up_after_days: float | None = Field(default=7.0, gt=0, le=365)

    # Segment goals (SPEC §5) are measured over this many days back from now.
    goal_window_days: int = Field(default=90, ge=1, le=3650)
    goal_activation_days: int = Field(default=30, ge=1, le=365)
    goal_activation_pct: float = Field(default=80.0, ge=0, le=100)
    goal_high_value_satisfaction: float = Field(default=90.0, ge=0, le=100)
    goal_churn_recovery_pct: float = Field(default=50.0, ge=0, le=100)
    # Headline goals are measured against a baseline period: by default the first this many
    # complete report weeks of data; per goal, `{"complaints": "2026-W45..2026-W48"}` (JSON; weeks
    # or months, both ends included) overrides it, and an admin's baseline (PUT
    # /v1/goals/{goal}/baseline) overrides both.
    goal_baseline_weeks: int = Field(default=4, ge=1, le=52)
    goal_baselines: dict[str, str] = Field(default_factory=dict)
    # The core touchpoints (channels a customer reaches the company on) whose satisfaction must
    # each reach 92 and whose complaints count towards complaints −60 %.
    goal_core_touchpoints: list[str] = Field(default_factory=lambda: list(CORE_TOUCHPOINTS), min_length=1)

    @model_validator(mode="after")
    def _lookback_covers_a_streak(self) -> RetrospectiveSettings:
        if self.hot_category_lookback_weeks < self.hot_category_weeks:
            raise ValueError("hot_category_lookback_weeks must be at least hot_category_weeks")
        if self.hot_category_measure is Measure.SHARE and (
            self.hot_category_threshold >= 100 or any(v >= 100 for v in self.hot_category_thresholds.values())
        ):
            raise ValueError("a share threshold of 100 % or more can never be exceeded")
        return self

    @model_validator(mode="after")
    def _goal_baselines_are_periods(self) -> RetrospectiveSettings:
        unknown = set(self.goal_baselines) - set(GOALS)
        if unknown:
            raise ValueError(f"goal_baselines names unknown goals {sorted(unknown)}; known: {list(GOALS)}")
        for goal, period in self.goal_baselines.items():
            try:
                parse_baseline(period, self.report_zone)
            except InvalidBaseline as exc:
                raise ValueError(f"goal_baselines[{goal!r}]: {exc}") from None
        return self

    @field_validator("goal_core_touchpoints")
    @classmethod
    def _touchpoints_are_channels(cls, value: list[str]) -> list[str]:
        channels = {c.value for c in Channel}
        if not set(value) <= channels:
            raise ValueError(f"core touchpoints must be channels of {sorted(channels)}")
        return value

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
