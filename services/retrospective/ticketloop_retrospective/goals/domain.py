"""The goal rules, pure so each is unit-tested alone: which baseline a goal is measured against,
what its target is, and when it is met.

A goal stated as a change ("first-contact resolution +40 %") compares the period's value with the
value over the goal's *baseline period*, a fixed window (default: the first four complete weeks
of data), never with the period before: a goal reached once is not asked to be reached again the
next week, and one quiet week after a busy one does not "meet" complaints −60 %.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from ticketloop_retrospective.reports.domain import Period, ReportWeek, parse_period
from ticketloop_retrospective.rounding import round_half_up
from ticketloop_shared.errors import Unprocessable
from ticketloop_shared.vocabulary import Channel

BASELINE_FORMAT = re.compile(r"([0-9]{4}-(?:W[0-9]{2}|[0-9]{2}))\.\.([0-9]{4}-(?:W[0-9]{2}|[0-9]{2}))")

# The touchpoints a customer reaches the company through: every channel a customer reports on.
# `proactive` is the company reaching out (care contacts, recovery), not a customer touchpoint.
CORE_TOUCHPOINTS: tuple[str, ...] = tuple(c.value for c in Channel if c is not Channel.PROACTIVE)


class InvalidBaseline(Unprocessable):
    """A baseline is not `<first period>..<last period>` (weeks `2026-W45` or months `2026-11`)
    or ends before it starts."""

    code = "invalid_baseline"


class Direction(StrEnum):
    """Whether the goal wants the figure to go up or down."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Target:
    """What a goal asks: a relative change on the baseline (`change_pct`, +40 or −60), or an
    absolute level (`at_least` / `at_most`). A percentage figure's target is capped at 100."""

    direction: Direction
    change_pct: float | None = None
    level: float | None = None
    capped_at: float | None = None

    @classmethod
    def change(cls, pct: float, *, capped_at: float | None = None) -> Target:
        """A change of `pct` % on the baseline (negative: a reduction)."""
        return cls(Direction.UP if pct >= 0 else Direction.DOWN, change_pct=pct, capped_at=capped_at)

    @classmethod
    def at_least(cls, level: float) -> Target:
        """The figure must reach `level` (whatever the baseline was)."""
        return cls(Direction.UP, level=level)

    @classmethod
    def at_most(cls, level: float) -> Target:
        """The figure must stay at or under `level`."""
        return cls(Direction.DOWN, level=level)

    @property
    def relative(self) -> bool:
        """The target depends on the baseline."""
        return self.change_pct is not None

    def label(self) -> str:
        """How the target reads in a report: `+40 % on the baseline`, `≥ 90`."""
        if self.change_pct is not None:
            return f"{self.change_pct:+g} % on the baseline".replace("-", "−")
        sign = "≥" if self.direction is Direction.UP else "≤"
        return f"{sign} {self.level:g}"

    def value(self, baseline: float | None) -> float | None:
        """The number to reach: baseline × (1 + change/100) for a change, measured from the
        baseline's size so a negative baseline (an NPS of −10) improves upwards too; None when
        a change is asked of a baseline that is unknown or zero (no relative change of zero)."""
        if self.change_pct is None:
            return self.level
        if baseline is None or baseline == 0:
            return None
        base = Fraction(str(baseline))
        reached = base + abs(base) * Fraction(str(self.change_pct)) / 100
        if self.capped_at is not None and reached > Fraction(str(self.capped_at)):
            reached = Fraction(str(self.capped_at))
        return round_half_up(reached, 2)

    def met(self, current: float, baseline: float | None) -> bool | None:
        """Whether `current` reaches the target; None when the target is not known."""
        goal = self.value(baseline)
        if goal is None:
            return None
        return current >= goal if self.direction is Direction.UP else current <= goal


def change_pct(current: float | None, baseline: float | None) -> float | None:
    """How far `current` is from `baseline`, in % of the baseline's size (one decimal): a period
    equal to its baseline is +0 %, a fall from 10 to 4 is −60 %. None without both, or on a zero
    baseline."""
    if current is None or baseline is None or baseline == 0:
        return None
    base = Fraction(str(baseline))
    return round_half_up((Fraction(str(current)) - base) * 100 / abs(base))


@dataclass(frozen=True)
class Window:
    """A baseline period: `[starts_at, ends_at)`, named by its first and last report period."""

    label: str
    starts_at: datetime
    ends_at: datetime


def parse_baseline(value: str, zone: tzinfo) -> Window:
    """`2026-W45..2026-W48` (weeks) or `2026-09..2026-10` (months), both ends included."""
    match = BASELINE_FORMAT.fullmatch(value.strip())
    if match is None:
        raise InvalidBaseline(
            f"baseline {value!r} is not of the form <period>..<period>, e.g. 2026-W45..2026-W48 or 2026-09..2026-10",
            details={"baseline": value},
        )
    first, last = parse_period(match[1], zone), parse_period(match[2], zone)
    return window(first, last)


def window(first: Period, last: Period) -> Window:
    """The baseline from the start of `first` to the end of `last`."""
    if last.ends_at <= first.starts_at:
        raise InvalidBaseline(
            f"baseline {first.label}..{last.label} ends before it starts",
            details={"baseline": f"{first.label}..{last.label}"},
        )
    return Window(label=f"{first.label}..{last.label}", starts_at=first.starts_at, ends_at=last.ends_at)


def default_baseline(first_data_at: datetime, zone: tzinfo, *, weeks: int) -> Window:
    """The first `weeks` complete report weeks of data: from the first Monday 00:00 (report zone)
    at or after the first ticket, so a week the loop only saw part of is not the yardstick."""
    week = ReportWeek.containing(first_data_at, zone)
    if week.starts_at != first_data_at:
        week = ReportWeek.containing(week.ends_at, zone)
    last = week
    for _ in range(weeks - 1):
        last = ReportWeek.containing(last.ends_at, zone)
    return window(week, last)


def per_week(count: int, starts_at: datetime, ends_at: datetime) -> float:
    """A count over a window as a weekly rate (one decimal), so a four-week baseline, a week and
    a month compare: 40 complaints over four weeks are 10 a week."""
    days = Fraction(int((ends_at - starts_at).total_seconds()), int(timedelta(days=1).total_seconds()))
    return round_half_up(Fraction(count) * 7 / days)


def overall_satisfaction(
    *,
    overall_avg: Decimal | float | None,
    overall_responses: int,
    csat_avg: Decimal | float | None,
    csat_responses: int,
) -> float | None:
    """SPEC's headline satisfaction on 0–100: relationship answers' overall (1–10) × 10 and
    per-ticket CSAT (1–5) as (csat − 1) × 25, averaged over all those answers (one decimal)."""
    parts: list[tuple[Fraction, int]] = []
    if overall_responses and overall_avg is not None:
        parts.append((Fraction(str(overall_avg)) * 10, overall_responses))
    if csat_responses and csat_avg is not None:
        parts.append(((Fraction(str(csat_avg)) - 1) * 25, csat_responses))
    weight = sum(n for _, n in parts)
    return round_half_up(sum(v * n for v, n in parts) / weight) if weight else None


def csat_satisfaction(csat_avg: Decimal | float | None) -> float | None:
    """Per-ticket CSAT (1–5) on the 0–100 satisfaction scale, (csat − 1) × 25 (one decimal)."""
    return None if csat_avg is None else round_half_up((Fraction(str(csat_avg)) - 1) * 25)


class Status(StrEnum):
    """Where a goal stands in a period."""

    MET = "met"
    NOT_MET = "not_met"
    UNMEASURED = "unmeasured"


class BaselineSource(StrEnum):
    """Who chose a goal's baseline period: an admin (API), the settings, or the default."""

    ADMIN = "admin"
    SETTING = "setting"
    DEFAULT = "default"


# SPEC's headline goals, then §5's segment goals: the names reports, the API and the metric
# dictionary use.
HEADLINE_GOALS: tuple[str, ...] = (
    "overall_satisfaction",
    "core_touchpoint_satisfaction",
    "first_response_time",
    "first_contact_resolution",
    "repeat_purchase",
    "referrals",
    "complaints",
    "retention",
    "nps",
    "customer_lifetime_value",
)
SEGMENT_GOALS: tuple[str, ...] = (
    "new_customer_activation_30d",
    "high_value_satisfaction",
    "high_value_repurchase",
    "churn_risk_recovery",
)
GOALS: tuple[str, ...] = HEADLINE_GOALS + SEGMENT_GOALS


@dataclass(frozen=True)
class GoalRow:
    """One goal in one period: its baseline, the value now, the target and whether it is met
    (or why it cannot be measured)."""

    goal: str
    unit: str
    target: str
    target_value: float | None
    baseline_period: str | None
    baseline_source: BaselineSource | None
    baseline: float | None
    current: float | None
    change_pct: float | None
    met: bool | None
    note: str | None = None
    parts: tuple[tuple[str, float | None], ...] = ()

    @property
    def status(self) -> Status:
        """met, not_met, or unmeasured when either the value or the target is unknown."""
        if self.met is None:
            return Status.UNMEASURED
        return Status.MET if self.met else Status.NOT_MET


def assess(
    *,
    goal: str,
    unit: str,
    target: Target,
    baseline_window: Window | None,
    baseline_source: BaselineSource | None,
    baseline: float | None,
    current: float | None,
    note: str | None = None,
    parts: tuple[tuple[str, float | None], ...] = (),
) -> GoalRow:
    """A goal's row from its measured baseline and current value: the change, the target value
    and whether it is met (None, with `note` saying why, when something is not known)."""
    goal_value = target.value(baseline)
    met = None if current is None else target.met(current, baseline)
    if met is None and note is None:
        if current is None:
            note = "no data in the period"
        elif baseline is None:
            note = "no data in the baseline period"
        else:
            note = "a relative change of a zero baseline is undefined"
    return GoalRow(
        goal=goal,
        unit=unit,
        target=target.label(),
        target_value=goal_value,
        baseline_period=None if baseline_window is None else baseline_window.label,
        baseline_source=baseline_source,
        baseline=baseline,
        current=current,
        change_pct=change_pct(current, baseline),
        met=met,
        note=note,
        parts=parts,
    )
