"""The report calendar and the arithmetic of its figures, kept pure so they are unit-tested
without a database."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import Protocol, TypeVar

from ticketloop_retrospective.rounding import round_half_up
from ticketloop_shared.errors import Unprocessable

WEEK_FORMAT = re.compile(r"([0-9]{4})-W([0-9]{2})")
MONTH_FORMAT = re.compile(r"([0-9]{4})-([0-9]{2})")

# NPS bands (0–10 answer): 9–10 promote, 7–8 are passive, 0–6 detract.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


class InvalidWeek(Unprocessable):
    """The `week` asked for is not an ISO week such as `2026-W48`."""

    code = "invalid_week"


class InvalidMonth(Unprocessable):
    """The `month` asked for is not a calendar month such as `2026-11`."""

    code = "invalid_month"


class InvalidPeriod(Unprocessable):
    """The `period` asked for is neither an ISO week (`2026-W48`) nor a month (`2026-11`)."""

    code = "invalid_period"


def _instants(first: date, after: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Midnight of `first` and of `after` in `zone`; OverflowError past the calendar's ends."""
    starts_at = datetime.combine(first, time.min, tzinfo=zone)
    ends_at = datetime.combine(after, time.min, tzinfo=zone)
    # The database compares instants, so both ends must exist as UTC instants too.
    starts_at.astimezone(UTC)
    ends_at.astimezone(UTC)
    return starts_at, ends_at


@dataclass(frozen=True)
class ReportWeek:
    """One ISO week cut in the report time zone: Monday 00:00 up to (not including) the next."""

    label: str
    starts_at: datetime
    ends_at: datetime
    kind = "week"

    @classmethod
    def containing(cls, instant: datetime, zone: tzinfo) -> ReportWeek:
        """The week `instant` falls in, on the report zone's calendar."""
        year, week, _ = instant.astimezone(zone).isocalendar()
        return cls.parse(f"{year:04d}-W{week:02d}", zone)

    def previous(self, zone: tzinfo) -> ReportWeek:
        """The week before this one."""
        return ReportWeek.containing(self.starts_at - timedelta(days=1), zone)

    @classmethod
    def parse(cls, value: str, zone: tzinfo) -> ReportWeek:
        """The week named `YYYY-Www`, or `InvalidWeek` saying what is wrong with it."""
        match = WEEK_FORMAT.fullmatch(value)
        if match is None:
            raise InvalidWeek(f"week {value!r} is not of the form YYYY-Www, e.g. 2026-W48", details={"week": value})
        year, week = int(match[1]), int(match[2])
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise InvalidWeek(f"{year} has no ISO week {week}", details={"week": value}) from None
        try:
            starts_at, ends_at = _instants(monday, monday + timedelta(days=7), zone)
        except OverflowError:
            raise InvalidWeek(f"week {value} runs past the supported calendar", details={"week": value}) from None
        return cls(label=f"{year:04d}-W{week:02d}", starts_at=starts_at, ends_at=ends_at)


@dataclass(frozen=True)
class ReportMonth:
    """One calendar month cut in the report time zone: the 1st 00:00 up to the next month's."""

    label: str
    starts_at: datetime
    ends_at: datetime
    kind = "month"

    @classmethod
    def parse(cls, value: str, zone: tzinfo) -> ReportMonth:
        """The month named `YYYY-MM`, or `InvalidMonth` saying what is wrong with it."""
        match = MONTH_FORMAT.fullmatch(value)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
            raise InvalidMonth(f"month {value!r} is not of the form YYYY-MM, e.g. 2026-11", details={"month": value})
        year, month = int(match[1]), int(match[2])
        first = date(year, month, 1)
        try:
            after = date(year + month // 12, month % 12 + 1, 1)
            starts_at, ends_at = _instants(first, after, zone)
        except (OverflowError, ValueError):
            raise InvalidMonth(f"month {value} runs past the supported calendar", details={"month": value}) from None
        return cls(label=f"{year:04d}-{month:02d}", starts_at=starts_at, ends_at=ends_at)

    @classmethod
    def containing(cls, instant: datetime, zone: tzinfo) -> ReportMonth:
        """The month `instant` falls in, on the report zone's calendar."""
        local = instant.astimezone(zone)
        return cls.parse(f"{local.year:04d}-{local.month:02d}", zone)

    def previous(self, zone: tzinfo) -> ReportMonth:
        """The month before this one."""
        return ReportMonth.containing(self.starts_at - timedelta(days=1), zone)


Period = ReportWeek | ReportMonth


def parse_period(value: str, zone: tzinfo) -> Period:
    """A week (`2026-W48`) or a month (`2026-11`), for endpoints that take either."""
    if WEEK_FORMAT.fullmatch(value):
        return ReportWeek.parse(value, zone)
    if MONTH_FORMAT.fullmatch(value):
        return ReportMonth.parse(value, zone)
    raise InvalidPeriod(
        f"period {value!r} is neither an ISO week (2026-W48) nor a month (2026-11)", details={"period": value}
    )


def trailing(period: Period, count: int, zone: tzinfo) -> list[Period]:
    """`count` periods ending with `period`, oldest first (a report's trend lines)."""
    periods: list[Period] = [period]
    while len(periods) < count:
        periods.append(periods[-1].previous(zone))
    return periods[::-1]


def nps_score(*, promoters: int, detractors: int, responses: int) -> float | None:
    """Net Promoter Score: % promoters minus % detractors, −100…100 to one decimal."""
    if responses == 0:
        return None
    return round_half_up(Fraction((promoters - detractors) * 100, responses))


class PainClass(StrEnum):
    """SPEC §4's classes of pain point: what kind of fix a problem type needs."""

    PROCESS = "process"
    SERVICE = "service"
    PRODUCT = "product"
    EMOTIONAL = "emotional"


# Defaults of `TICKETLOOP_RETROSPECTIVE_PAIN_CLASSES`: a product fault needs the product fixed, a
# delay or a billing error the process, an attitude problem the feelings it left.
DEFAULT_PAIN_CLASSES: dict[str, PainClass] = {
    "product_quality": PainClass.PRODUCT,
    "logistics_delay": PainClass.PROCESS,
    "billing": PainClass.PROCESS,
    "account": PainClass.SERVICE,
    "service_attitude": PainClass.EMOTIONAL,
    "other": PainClass.SERVICE,
}
UNCLASSIFIED = PainClass.SERVICE


def pain_class_of(category: str, classes: Mapping[str, PainClass]) -> PainClass:
    """The class a category's problems belong to (a category nobody classified: service)."""
    return classes.get(category, UNCLASSIFIED)


@dataclass(frozen=True)
class ProblemStats:
    """What the review knows about one problem type in a period, to weigh impact and difficulty."""

    category: str
    tickets: int
    customers: int
    revenue: float
    handling_minutes: float | None
    reopen_rate: float | None
    departments: int


@dataclass(frozen=True)
class Priority:
    """One problem type placed on the impact × difficulty matrix (scores 0–1)."""

    stats: ProblemStats
    impact: float
    difficulty: float
    quadrant: str
    rank: int


QUADRANT_ORDER = ("quick_win", "major_project", "fill_in", "thankless")


def _relative(value: float | None, top: float) -> float:
    return 0.0 if value is None or top <= 0 else min(value / top, 1.0)


def prioritise(problems: Sequence[ProblemStats]) -> list[Priority]:
    """SPEC §4: rank problems by impact against difficulty, high-impact/low-difficulty first.

    Each measure is scaled to 0–1 against the period's largest (so the matrix compares problems
    with each other): impact is the mean of customers affected and revenue affected (their
    annual spend); difficulty the mean of handling time, reopen rate and departments involved
    (one department is no difficulty: (n − 1) / (max − 1)). At or above 0.5 is "high".
    Quadrants, in order: quick_win (high impact, low difficulty), major_project (high, high),
    fill_in (low, low), thankless (low, high); within one, higher impact first, then easier.
    """
    if not problems:
        return []
    top_customers = max(p.customers for p in problems)
    top_revenue = max(p.revenue for p in problems)
    top_handling = max((p.handling_minutes or 0.0) for p in problems)
    top_reopen = max((p.reopen_rate or 0.0) for p in problems)
    top_departments = max(p.departments for p in problems)
    placed: list[tuple[str, float, float, ProblemStats]] = []
    for p in problems:
        impact = (_relative(p.customers, top_customers) + _relative(p.revenue, top_revenue)) / 2
        difficulty = (
            _relative(p.handling_minutes, top_handling)
            + _relative(p.reopen_rate, top_reopen)
            + _relative(max(p.departments - 1, 0), top_departments - 1)
        ) / 3
        high_impact, hard = impact >= 0.5, difficulty >= 0.5
        quadrant = {
            (True, False): "quick_win",
            (True, True): "major_project",
            (False, False): "fill_in",
            (False, True): "thankless",
        }[(high_impact, hard)]
        placed.append((quadrant, round(impact, 3), round(difficulty, 3), p))
    placed.sort(key=lambda q: (QUADRANT_ORDER.index(q[0]), -q[1], q[2], q[3].category))
    return [
        Priority(stats=p, impact=impact, difficulty=difficulty, quadrant=quadrant, rank=n)
        for n, (quadrant, impact, difficulty, p) in enumerate(placed, start=1)
    ]


@dataclass(frozen=True)
class Filters:
    """Which tickets a report is about; None means any."""

    channel: str | None = None
    category: str | None = None
    department: str | None = None
    segment: str | None = None

    @property
    def any(self) -> bool:
        """Some filter is set."""
        return any(v is not None for v in (self.channel, self.category, self.department, self.segment))


class _Cycles(Protocol):
    """SLA cycles of one group (the repository's `CycleGroup`)."""

    @property
    def met(self) -> int: ...
    @property
    def breached(self) -> int: ...


_C = TypeVar("_C", bound=_Cycles)


@dataclass(frozen=True)
class Outcomes:
    """SLA cycles met and breached in a period, for one group (a metric, a department…)."""

    key: str
    met: int
    breached: int


def outcomes_by(groups: Sequence[_C], key: Callable[[_C], str]) -> list[Outcomes]:
    """The cycles summed per `key`, largest group first (ties by name)."""
    sums: dict[str, list[int]] = {}
    for g in groups:
        total = sums.setdefault(key(g), [0, 0])
        total[0] += g.met
        total[1] += g.breached
    ordered = sorted(sums.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
    return [Outcomes(key=k, met=m, breached=b) for k, (m, b) in ordered]
