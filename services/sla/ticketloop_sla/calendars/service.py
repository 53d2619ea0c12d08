"""The calendars feature's face (its arithmetic is the pure `domain.py`): holiday import from
iCalendar (RFC 5545) files, every date a VEVENT covers, recurrences expanded.

Parsing and recurrence expansion are the registry's `icalendar` and `recurring-ical-events`; this
module adds what an admin upload needs on top: line-numbered messages, limits against files that
would expand without end, and the reduction of events to whole local dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import icalendar
import recurring_ical_events  # type: ignore[import-untyped]  # ships no py.typed marker
from icalendar.parser import Contentline

from ticketloop_shared.errors import Unprocessable

MAX_DATES = 5000
MAX_CHARACTERS = 1_000_000  # a national holiday file for decades is a few tens of kilobytes
MAX_RANGE_DAYS = 100 * 366
# Expanding month by month lets the MAX_DATES check stop a runaway file early.
_CHUNK = timedelta(days=31)
_ONE_DAY = timedelta(days=1)
_NEWLINE = re.compile(r"\r?\n")  # icalendar's own line split: a lone CR is not a line break
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_WITHIN_DAY = ("BYHOUR", "BYMINUTE", "BYSECOND")
# Property errors that change which dates an event covers; others (a broken GEO) cannot matter.
_DATE_PROPERTIES = frozenset({"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"})
# Stamped on each parsed VEVENT so its expanded copies remember their place in the file.
_ORDER = "X-TICKETLOOP-ORDER"


@dataclass(frozen=True)
class Holiday:
    """A date closed for business, with the name the file gives it."""

    day: date
    name: str


class ICalError(Unprocessable, ValueError):
    """The file cannot be read as holidays; the message says where and why, for the admin who sent it."""

    code = "invalid_icalendar"


def parse_holidays(text: str | bytes, *, start: date, end: date) -> list[Holiday]:
    """Every date a VEVENT covers in [start, end], recurring events expanded, sorted, deduplicated (first name wins).

    "First" is the order of the VEVENTs in the file. All-day events cover DTSTART up to the
    exclusive DTEND (one day without one); timed events cover each local date they touch, in their
    own TZID (UTC for `Z` times, as written for floating times).
    """
    if end < start:
        raise ICalError(f"the range ends on {end}, before it starts on {start}")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ICalError(f"the range {start} to {end} is longer than 100 years")
    source = _decode(text)
    event_lines = _check_structure(source)
    try:
        # Bytes, never str: icalendar reads a one-line str as a file path if such a file exists.
        calendars = icalendar.Calendar.from_ical(source.encode(), multiple=True)
    except Exception as error:  # the library's errors are many types; the admin gets one
        raise ICalError(f"not a readable iCalendar file: {error}") from error
    events = [event for calendar in calendars for event in calendar.walk("VEVENT")]
    if not events:
        raise ICalError("no VEVENT in the file")
    for index, event in enumerate(events):
        _check_event(event, event_lines[index] if index < len(event_lines) else {})
        event.add(_ORDER, str(index))
    found: dict[date, tuple[int, str]] = {}
    try:
        for calendar in calendars:
            _expand(calendar, found, start, end)
    except ICalError:
        raise
    except Exception as error:  # recurrence errors (bad RRULE values, CALSCALE) of several types
        raise ICalError(f"cannot expand the events: {error}") from error
    return [Holiday(day=day, name=name) for day, (_, name) in sorted(found.items())]


def _decode(text: str | bytes) -> str:
    if len(text) > MAX_CHARACTERS:
        raise ICalError(f"the file is larger than {MAX_CHARACTERS:,} characters; a holiday calendar is far smaller")
    if isinstance(text, str):
        return text.removeprefix("\ufeff")
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ICalError(f"the file is not UTF-8 text: the byte at offset {error.start} cannot be decoded") from None


def _check_structure(source: str) -> list[dict[str, int]]:
    """Check every content line and BEGIN/END pairing; return, per VEVENT, its properties' first line numbers."""
    events: list[dict[str, int]] = []
    open_components: list[tuple[str, int]] = []
    seen_any = False
    for number, line in _content_lines(source):
        shown = repr(line if len(line) <= 60 else line[:57] + "...")
        try:
            name, _, value = Contentline(line).parts()  # type: ignore[no-untyped-call]  # untyped str subclass
        except ValueError:
            name, value = "", ""
        name, kind = name.upper(), value.strip().upper()
        if not seen_any and (name, kind) != ("BEGIN", "VCALENDAR"):
            raise ICalError(f"no VCALENDAR in the file: it must start with BEGIN:VCALENDAR, line {number} is {shown}")
        if not name:
            raise ICalError(f"line {number}: {shown} is not an iCalendar line (NAME:value)")
        seen_any = True
        if name == "BEGIN":
            open_components.append((kind, number))
            if kind == "VEVENT":
                events.append({"BEGIN": number})
        elif name == "END":
            if not open_components or open_components[-1][0] != kind:
                raise ICalError(f"line {number}: END:{kind} without a matching BEGIN:{kind}")
            open_components.pop()
        elif not open_components:
            raise ICalError(f"line {number}: {name} is outside BEGIN:VCALENDAR ... END:VCALENDAR")
        elif open_components[-1][0] == "VEVENT":
            events[-1].setdefault(name, number)
    if not seen_any:
        raise ICalError("no VCALENDAR in the file: it is empty")
    if open_components:
        kind, number = open_components[-1]
        raise ICalError(f"line {number}: BEGIN:{kind} is never closed by END:{kind}")
    return events


def _content_lines(source: str) -> Iterator[tuple[int, str]]:
    """Unfolded content lines with the number of the physical line each starts on (blank lines skipped)."""
    number, parts = 0, list[str]()
    for index, physical in enumerate(_NEWLINE.split(source), start=1):
        if not physical:
            continue  # as in icalendar, a fold may follow blank lines
        if physical[0] in " \t" and parts:
            parts.append(physical[1:])
            continue
        if parts:
            yield number, "".join(parts)
        number, parts = index, [physical]
    if parts:
        yield number, "".join(parts)


def _check_event(event: icalendar.Component, lines: dict[str, int]) -> None:
    """Refuse a VEVENT whose dates cannot be known, or that repeats within a day (it would expand without end)."""
    begin = lines.get("BEGIN", 0)
    if "DTSTART" not in event:
        raise ICalError(f"line {begin}: VEVENT without DTSTART")
    for prop, message in event.errors:
        if prop in _DATE_PROPERTIES:
            raise ICalError(f"line {lines.get(prop, begin)}: {prop}: {message}")
    rules = event.get("RRULE", [])
    for rule in rules if isinstance(rules, list) else [rules]:
        frequency = ",".join(str(part) for part in rule.get("FREQ", []))
        per_day = 1
        for part in _WITHIN_DAY:
            per_day *= max(1, len(rule.get(part, [])))
        if frequency.upper() in _SUB_DAILY or per_day > 1:
            raise ICalError(
                f"line {lines.get('RRULE', begin)}: RRULE repeats within a day (FREQ={frequency}); "
                "holidays repeat daily or less often"
            )


def _expand(calendar: icalendar.Component, found: dict[date, tuple[int, str]], start: date, end: date) -> None:
    """Add the dates each occurrence covers in [start, end] to `found`, keeping the earliest VEVENT's name."""
    query = recurring_ical_events.of(calendar)
    # Naive bounds are read in each event's own zone: a day of margin on each side, clipped below.
    cursor, stop = start - _ONE_DAY, end + 2 * _ONE_DAY
    while cursor < stop:
        upto = min(cursor + _CHUNK, stop)
        for occurrence in query.between(cursor, upto):
            order = int(str(occurrence[_ORDER]))
            name = str(occurrence.get("SUMMARY", "")).strip()
            first, last = _covered(occurrence["DTSTART"].dt, occurrence["DTEND"].dt if "DTEND" in occurrence else None)
            day, last = max(first, start), min(last, end)
            while day <= last:
                held = found.get(day)
                if held is None or order < held[0]:
                    found[day] = (order, name)
                if len(found) > MAX_DATES:
                    raise ICalError(f"the file covers more than {MAX_DATES} dates between {start} and {end}")
                day += _ONE_DAY
        cursor = upto


def _covered(dtstart: Any, dtend: Any) -> tuple[date, date]:
    """First and last local date an occurrence touches; DTEND is exclusive, a zero-length event covers its start."""
    if not isinstance(dtstart, datetime):
        first = dtstart
        if dtend is None:
            return first, first
        last = dtend.date() if isinstance(dtend, datetime) else dtend - _ONE_DAY
        return first, max(first, last)
    first = dtstart.date()
    if dtend is None:
        return first, first
    if not isinstance(dtend, datetime):
        return first, max(first, dtend - _ONE_DAY)
    if dtstart.tzinfo is not None and dtend.tzinfo is not None:
        dtend = dtend.astimezone(dtstart.tzinfo)
    else:
        dtstart, dtend = dtstart.replace(tzinfo=None), dtend.replace(tzinfo=None)
    last = dtend.date()
    # Ending at midnight does not touch the new day.
    if dtend.time() == time(0) and dtend > dtstart:
        last -= _ONE_DAY
    return first, max(first, last)
