"""The report calendar and the arithmetic of its figures, kept pure so they are unit-tested
without a database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from ticketloop_shared.errors import Unprocessable

WEEK_FORMAT = re.compile(r"([0-9]{4})-W([0-9]{2})")

# NPS bands (0–10 answer): 9–10 promote, 7–8 are passive, 0–6 detract.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6


class InvalidWeek(Unprocessable):
    """The `week` asked for is not an ISO week such as `2026-W48`."""

    code = "invalid_week"


@dataclass(frozen=True)
class ReportWeek:
    """One ISO week cut in the report time zone: Monday 00:00 up to (not including) the next."""

    label: str
    starts_at: datetime
    ends_at: datetime

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
            starts_at = datetime.combine(monday, time.min, tzinfo=zone)
            ends_at = datetime.combine(monday + timedelta(days=7), time.min, tzinfo=zone)
            # The database compares instants, so both ends must exist as UTC instants too.
            starts_at.astimezone(UTC)
            ends_at.astimezone(UTC)
        except OverflowError:
            raise InvalidWeek(f"week {value} runs past the supported calendar", details={"week": value}) from None
        return cls(label=f"{year:04d}-W{week:02d}", starts_at=starts_at, ends_at=ends_at)


def round_half_up(value: Fraction | Decimal | float, places: int = 1) -> float:
    """Round as a person reading the report would (2.25 → 2.3), not as binary floats do."""
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else Decimal(str(value))
    )
    result = float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return result + 0.0  # turns -0.0 into 0.0


def percent(part: int, whole: int) -> float | None:
    """`part` as a percentage of `whole` to one decimal; None when there is nothing to divide."""
    if whole == 0:
        return None
    return round_half_up(Fraction(part * 100, whole))


def nps_score(*, promoters: int, detractors: int, responses: int) -> float | None:
    """Net Promoter Score: % promoters minus % detractors, −100…100 to one decimal."""
    if responses == 0:
        return None
    return round_half_up(Fraction((promoters - detractors) * 100, responses))


def rounded(value: Fraction | Decimal | float | None, places: int = 1) -> float | None:
    """An average or median as reported; None when there was nothing to average."""
    return None if value is None else round_half_up(value, places)
