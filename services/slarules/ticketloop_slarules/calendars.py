"""Business-time arithmetic: SLA clocks run only inside a calendar's working intervals.

Everything here is pure. Working intervals are local wall time in the calendar's zone; each local
date is turned once into UTC spans (cached), and the arithmetic walks those spans in integer
microseconds, so a deadline that crosses a night, a weekend, a holiday or a DST change is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ticketloop_shared.errors import Unprocessable

Interval = tuple[int, int]
Week = tuple[tuple[Interval, ...], ...]

MINUTES_PER_DAY = 1440
ALWAYS: Week = (((0, MINUTES_PER_DAY),),) * 7
# A walk that finds no working time for this many consecutive days gives up instead of looping.
MAX_IDLE_DAYS = 3660
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)

# One local date in UTC microseconds: where the day begins and ends, and its merged working spans.
_Day = tuple[int, int, tuple[Interval, ...]]


class CalendarError(Unprocessable, ValueError):
    """A calendar that cannot be used; the message tells the admin exactly what to fix."""

    code = "invalid_calendar"


@dataclass(frozen=True)
class Calendar:
    """When SLA clocks run; frozen and hashable so each (calendar, date) is converted to UTC once."""

    time_zone: str = "UTC"  # IANA name, resolved with zoneinfo
    # Monday..Sunday; each a sorted tuple of non-overlapping (start_minute, end_minute) in local wall
    # time, 0 <= start < end <= 1440 (1440 = the next local midnight). An empty tuple is a closed day.
    week: Week = ALWAYS
    holidays: frozenset[date] = frozenset()  # local dates closed all day

    @property
    def always_open(self) -> bool:
        """24x7 without holidays: every deadline is a plain timedelta addition, whatever the zone."""
        return not self.holidays and self.week == ALWAYS


def validate(calendar: Calendar) -> None:
    """Raise CalendarError naming the first problem, so a bad calendar is refused when it is saved."""
    _zone_named(calendar.time_zone)
    week = calendar.week
    if not isinstance(week, tuple) or len(week) != 7:
        count = len(week) if isinstance(week, Sequence) else "no"
        raise CalendarError(f"a week has 7 days, Monday to Sunday, but the calendar lists {count}")
    for name, intervals in zip(DAY_NAMES, week, strict=True):
        _validate_day(name, intervals)
    if not any(week):
        raise CalendarError("the calendar has no working time in the week: give at least one day an interval")
    holidays = calendar.holidays
    if not isinstance(holidays, frozenset):
        raise CalendarError("holidays must be a frozenset of dates")
    for holiday in holidays:
        if not isinstance(holiday, date) or isinstance(holiday, datetime):
            raise CalendarError(f"a holiday is a whole date, not {holiday!r}")


def _validate_day(name: str, intervals: object) -> None:
    if not isinstance(intervals, tuple):
        raise CalendarError(f"{name}: the working intervals must be a tuple of (start_minute, end_minute) pairs")
    previous: Interval | None = None
    for interval in intervals:
        if (
            not isinstance(interval, tuple)
            or len(interval) != 2
            or not all(isinstance(minute, int) and not isinstance(minute, bool) for minute in interval)
        ):
            raise CalendarError(
                f"{name}: an interval is a (start_minute, end_minute) pair of whole minutes, not {interval!r}"
            )
        start, end = interval
        if not (0 <= start <= MINUTES_PER_DAY and 0 <= end <= MINUTES_PER_DAY):
            raise CalendarError(f"{name}: interval {interval} is outside 0..1440 minutes (00:00 to 24:00)")
        if start >= end:
            raise CalendarError(
                f"{name}: interval {interval} starts at {_clock(start)}, not before its end {_clock(end)}"
            )
        if previous is not None and start < previous[1]:
            raise CalendarError(
                f"{name}: interval {interval} starts at {_clock(start)}, before {previous} ends at "
                f"{_clock(previous[1])}; list a day's intervals in order, without overlap"
            )
        previous = interval


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        # zoneinfo raises a KeyError subclass for unknown keys, ValueError for malformed ones and
        # OSError for a directory such as "Europe": all mean the same to the admin.
        raise CalendarError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'") from None


def business_hours(
    time_zone: str,
    days: Mapping[int, Sequence[tuple[int, int]]],
    holidays: Iterable[date] = (),
) -> Calendar:
    """Build a validated calendar from {weekday: intervals} (0 = Monday), so closed days need no spelling out."""
    for weekday in days:
        if weekday not in range(7):
            raise CalendarError(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
    try:
        week = tuple(tuple(sorted((begin, end) for begin, end in days.get(weekday, ()))) for weekday in range(7))
    except (TypeError, ValueError):
        raise CalendarError("working intervals must be (start_minute, end_minute) pairs of whole minutes") from None
    calendar = Calendar(time_zone=time_zone, week=week, holidays=frozenset(holidays))
    validate(calendar)
    return calendar


def add_business_time(calendar: Calendar, start: datetime, seconds: float) -> datetime:
    """The UTC instant at which `seconds` of working time have elapsed from `start`."""
    _require_aware(start, "start")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be a finite number >= 0, not {seconds!r}")
    if seconds == 0:
        return start.astimezone(UTC)
    if calendar.always_open:
        return start.astimezone(UTC) + timedelta(seconds=seconds)
    remaining = round(seconds * 1_000_000)
    for begin, end in _spans_from(calendar, start):
        available = end - begin
        # `<=`: a target used up exactly at closing time is due at closing, not at the next opening.
        if remaining <= available:
            return _instant(begin + remaining)
        remaining -= available
    raise AssertionError("unreachable: _spans_from without a stop never ends")  # pragma: no cover


def business_seconds(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Working seconds in [start, end); 0.0 when end <= start."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return 0.0
    if calendar.always_open:
        return (end - start).total_seconds()
    stop = _micros(end)
    total = sum(min(span_end, stop) - begin for begin, span_end in _spans_from(calendar, start, stop=stop))
    return total / 1_000_000


def next_open(calendar: Calendar, at: datetime) -> datetime:
    """`at` if the calendar is open then, else the next opening instant."""
    _require_aware(at, "at")
    if calendar.always_open:
        return at.astimezone(UTC)
    for begin, _ in _spans_from(calendar, at):
        return _instant(begin)
    raise AssertionError("unreachable: _spans_from without a stop never ends")  # pragma: no cover


def is_open(calendar: Calendar, at: datetime) -> bool:
    """Whether a clock on this calendar is running at `at`."""
    _require_aware(at, "at")
    if calendar.always_open:
        return True
    t, _, day = _locate(calendar, at)
    return any(begin <= t < end for begin, end in day[2])


def _spans_from(calendar: Calendar, at: datetime, *, stop: int | None = None) -> Iterator[Interval]:
    """Working spans from `at` onwards in UTC microseconds, the first one clipped to start at `at`.

    Without `stop` the walk is endless unless MAX_IDLE_DAYS pass without working time (holidays
    covering years), which raises instead of looping. With `stop` it ends at the day holding `stop`
    and yields spans that may run past it.
    """
    t, ordinal, day = _locate(calendar, at)
    idle = 0
    while True:
        day_end, spans = day[1], day[2]
        for begin, end in spans:
            if end > t:
                if stop is not None and max(begin, t) >= stop:
                    return
                yield max(begin, t), end
        if stop is not None and day_end >= stop:
            return
        idle = idle + 1 if not spans else 0
        if stop is None and idle > MAX_IDLE_DAYS:
            raise CalendarError(f"the calendar has no working time for more than {MAX_IDLE_DAYS} days after {at}")
        ordinal += 1
        day = _day(calendar, ordinal)


def _locate(calendar: Calendar, at: datetime) -> tuple[int, int, _Day]:
    """`at` in UTC microseconds, and the local date (ordinal and spans) whose UTC range holds it."""
    zone = _checked_zone(calendar)
    t = _micros(at)
    ordinal = at.astimezone(zone).toordinal()
    day = _day(calendar, ordinal)
    # Days are cut at local midnights mapped with fold=0 (see _day); where a midnight is skipped or
    # repeated, an instant can belong to the neighbouring date's range rather than its wall-clock date.
    while t < day[0]:
        ordinal -= 1
        day = _day(calendar, ordinal)
    while t >= day[1]:
        ordinal += 1
        day = _day(calendar, ordinal)
    return t, ordinal, day


def _checked_zone(calendar: Calendar) -> ZoneInfo:
    try:
        return _validated_zone(calendar)
    except TypeError:
        # Unhashable parts (lists, a set of holidays): validate says which, in the admin's words.
        validate(calendar)
        raise


@lru_cache(maxsize=1024)
def _validated_zone(calendar: Calendar) -> ZoneInfo:
    """Validate each calendar once (not per deadline) and resolve its zone."""
    validate(calendar)
    return ZoneInfo(calendar.time_zone)


@lru_cache(maxsize=1 << 16)
def _day(calendar: Calendar, ordinal: int) -> _Day:
    """The UTC range and merged working spans of one local date (by ordinal), in microseconds.

    Local times map to UTC with zoneinfo's default fold=0: a wall time skipped by a spring-forward
    gap (02:30 in Berlin) maps with the offset before the change, i.e. to the instant an hour later
    (03:30 CEST); an ambiguous fall-back time maps to its first occurrence. Spans are clipped to the
    day's own UTC range, so days never overlap, and merged, so intervals that the mapping makes
    touch or overlap count once. A 00:00-24:00 day thus lasts 23 or 25 hours across a DST change.
    """
    zone = ZoneInfo(calendar.time_zone)
    local = date.fromordinal(ordinal)
    following = local + _ONE_DAY
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    day_begin = _micros(midnight)
    day_end = _micros(datetime(following.year, following.month, following.day, tzinfo=zone))
    if local in calendar.holidays:
        return day_begin, day_end, ()
    spans: list[Interval] = []
    for start_minute, end_minute in calendar.week[local.weekday()]:
        # Aware datetime + timedelta is wall-clock arithmetic, the offset looked up afterwards; so
        # minute 1440 is the next local midnight, exactly day_end.
        begin = max(day_begin, _micros(midnight + timedelta(minutes=start_minute)))
        end = min(day_end, _micros(midnight + timedelta(minutes=end_minute)))
        if begin < end:
            spans.append((begin, end))
    spans.sort()
    merged: list[Interval] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return day_begin, day_end, tuple(merged)


def _require_aware(value: datetime, name: str) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not naive {value.isoformat()}")


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
