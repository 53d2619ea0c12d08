"""Business calendars as pure functions: deadlines that cross nights, weekends, holidays and DST
changes to the minute, the inverse of elapsed business time, validation messages, and holidays
read from iCalendar files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketloop_sla.calendars.service import Holiday, ICalError, parse_holidays
from ticketloop_slarules.calendars import (
    ALWAYS,
    MAX_IDLE_DAYS,
    Calendar,
    CalendarError,
    add_business_time,
    business_hours,
    business_seconds,
    is_open,
    next_open,
    validate,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0
NINE_TO_SIX = [(9 * 60, 18 * 60)]
# 2026-03-02 is a Monday; Berlin changes to summer time on 2026-03-29 and back on 2026-10-25.
MONDAY = date(2026, 3, 2)


def berlin(day: date, hour: int = 0, minute: int = 0) -> datetime:
    """A Berlin wall-clock instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def weekday(offset: int, hour: int = 0, minute: int = 0) -> datetime:
    """Berlin time `offset` days after MONDAY (4 = Friday, 5 = Saturday)."""
    return berlin(MONDAY + timedelta(days=offset), hour, minute)


def create_office(
    hours: list[tuple[int, int]] | None = None, *, days: range = range(5), holidays: tuple[date, ...] = ()
) -> Calendar:
    """A Berlin calendar with the same hours (09-18 unless told) on each of `days` (Mon-Fri unless told)."""
    return business_hours("Europe/Berlin", dict.fromkeys(days, hours or NINE_TO_SIX), holidays=holidays)


def always_in_berlin_with_a_holiday_in_2000() -> Calendar:
    """24x7 wall time that is not `always_open`, so the general path is measured, DST and all."""
    return Calendar(time_zone="Europe/Berlin", week=ALWAYS, holidays=frozenset({date(2000, 1, 1)}))


# --- 24x7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1.0, 7200.0, 3 * 86400.0 + 0.25])
def test_24x7_is_plain_addition_in_utc(seconds: float) -> None:
    start = weekday(5, 23, 59)
    due = add_business_time(Calendar(), start, seconds)
    assert due == start + timedelta(seconds=seconds)
    assert due.tzinfo is UTC
    assert business_seconds(Calendar(), start, due) == seconds


def test_always_open_only_without_hours_or_holidays() -> None:
    assert Calendar().always_open
    assert Calendar(time_zone="Europe/Berlin").always_open
    assert not create_office().always_open
    assert not always_in_berlin_with_a_holiday_in_2000().always_open


# --- business hours ---------------------------------------------------------------------------


def test_a_target_crossing_a_night_resumes_at_opening() -> None:
    assert add_business_time(create_office(), weekday(0, 17, 30), 2 * HOUR) == weekday(1, 10, 30)


def test_a_target_crossing_a_weekend_resumes_on_monday() -> None:
    assert add_business_time(create_office(), weekday(4, 17), 2 * HOUR) == weekday(7, 10)


def test_a_target_crossing_a_holiday_skips_the_whole_day() -> None:
    office = create_office(holidays=(MONDAY + timedelta(days=7),))
    assert add_business_time(office, weekday(4, 17), 2 * HOUR) == weekday(8, 10)


def test_a_lunch_break_does_not_count() -> None:
    office = create_office([(13 * 60, 18 * 60), (9 * 60, 12 * 60)])  # the builder sorts them
    assert add_business_time(office, weekday(0, 11), 2 * HOUR) == weekday(0, 14)
    assert business_seconds(office, weekday(0, 11), weekday(0, 14)) == 2 * HOUR
    assert not is_open(office, weekday(0, 12, 30))


def test_a_start_outside_working_hours_counts_from_the_next_opening() -> None:
    saturday = weekday(5, 12)
    assert next_open(create_office(), saturday) == weekday(7, 9)
    assert add_business_time(create_office(), saturday, HOUR) == weekday(7, 10)


def test_a_target_used_up_at_closing_time_is_due_at_closing() -> None:
    assert add_business_time(create_office(), weekday(0, 16), 2 * HOUR) == weekday(0, 18)
    assert add_business_time(create_office(), weekday(0, 9), 9 * HOUR) == weekday(0, 18)


def test_a_zero_target_is_due_at_the_start_even_when_closed() -> None:
    saturday = weekday(5, 12)
    assert add_business_time(create_office(), saturday, 0) == saturday


def test_next_open_and_is_open_agree_at_the_edges() -> None:
    office = create_office()
    assert is_open(office, weekday(0, 9)) and next_open(office, weekday(0, 9)) == weekday(0, 9)
    assert not is_open(office, weekday(0, 18)) and next_open(office, weekday(0, 18)) == weekday(1, 9)
    assert business_seconds(office, weekday(0, 18), weekday(0, 9)) == 0.0


def test_intervals_across_midnight_are_one_stretch() -> None:
    night = business_hours("Europe/Berlin", {0: [(22 * 60, 1440)], 1: [(0, 6 * 60)]})
    assert add_business_time(night, weekday(0, 23), 2 * HOUR) == weekday(1, 1)
    assert add_business_time(night, weekday(0, 22), HOUR * 2) == weekday(1, 0)  # midnight itself
    assert business_seconds(night, weekday(0, 20), weekday(1, 12)) == 8 * HOUR
    assert is_open(night, weekday(1, 0)) and next_open(night, weekday(1, 0)) == weekday(1, 0)


def test_several_weeks_of_target_walk_the_calendar() -> None:
    # 45 working hours is exactly one 09-18 Monday-to-Friday week.
    assert add_business_time(create_office(), weekday(0, 9), 45 * HOUR) == weekday(4, 18)
    assert add_business_time(create_office(), weekday(0, 9), 45 * HOUR + 1) == weekday(7, 9) + timedelta(seconds=1)


# --- daylight saving time (Europe/Berlin) -----------------------------------------------------


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 29), 23.0), (date(2026, 10, 25), 25.0)])
def test_a_whole_local_day_lasts_23_or_25_hours_on_a_dst_change(day: date, hours: float) -> None:
    calendar = always_in_berlin_with_a_holiday_in_2000()
    start, end = berlin(day), berlin(day + timedelta(days=1))
    assert business_seconds(calendar, start, end) == hours * HOUR
    assert add_business_time(calendar, start, hours * HOUR) == end


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25)])
def test_office_hours_on_a_dst_change_are_still_nine_hours(day: date) -> None:
    every_day = create_office(days=range(7))
    assert business_seconds(every_day, berlin(day), berlin(day + timedelta(days=1))) == 9 * HOUR
    assert add_business_time(every_day, berlin(day - timedelta(days=1), 17), 2 * HOUR) == berlin(day, 10)


def test_a_skipped_local_time_maps_with_the_offset_before_the_change() -> None:
    # 02:30 does not exist on 2026-03-29; fold=0 reads it as 01:30 UTC (03:30 CEST).
    calendar = business_hours("Europe/Berlin", {6: [(150, 240)]})
    day = date(2026, 3, 29)
    assert next_open(calendar, berlin(day)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert business_seconds(calendar, berlin(day), berlin(day + timedelta(days=1))) == 0.5 * HOUR


# --- inputs -----------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(create_office(), naive, HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_seconds(create_office(), weekday(0), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_open(Calendar(), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(Calendar(), naive)


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_a_negative_or_infinite_target_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        add_business_time(create_office(), weekday(0), seconds)


def test_holidays_covering_more_than_ten_years_raise_instead_of_looping() -> None:
    mondays = frozenset(MONDAY + timedelta(weeks=week) for week in range(MAX_IDLE_DAYS // 7 + 2))
    only_mondays = Calendar("Europe/Berlin", week=((NINE_TO_SIX[0],),) + ((),) * 6, holidays=mondays)
    with pytest.raises(CalendarError, match="no working time for more than 3660 days"):
        add_business_time(only_mondays, weekday(0), HOUR)
    with pytest.raises(CalendarError, match="no working time"):
        next_open(only_mondays, weekday(0))
    assert business_seconds(only_mondays, weekday(0), weekday(7 * 520)) == 0.0


# --- validation -------------------------------------------------------------------------------

NINE_SIX = ((540, 1080),)


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        (Calendar(time_zone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (Calendar(time_zone="Europe"), "unknown time zone 'Europe'"),
        (Calendar(week=(NINE_SIX,) * 6), "a week has 7 days, Monday to Sunday, but the calendar lists 6"),
        (Calendar(week=((540, 1500),) * 7), r"Monday: an interval is a \(start_minute, end_minute\) pair"),  # type: ignore[arg-type]
        (Calendar(week=(((540, 1500),),) * 7), r"Monday: interval \(540, 1500\) is outside 0..1440 minutes"),
        (Calendar(week=(((-5, 60),),) * 7), r"Monday: interval \(-5, 60\) is outside 0..1440"),
        (Calendar(week=((), ((600, 540),)) + ((),) * 5), r"Tuesday: interval \(600, 540\) starts at 10:00, not before"),
        (Calendar(week=(((540, 540),),) * 7), r"Monday: interval \(540, 540\) starts at 09:00, not before its end"),
        (
            Calendar(week=(((540, 720), (660, 1080)),) * 7),
            r"Monday: interval \(660, 1080\) starts at 11:00, before \(540, 720\) ends at 12:00",
        ),
        (Calendar(week=(((780, 1080), (540, 720)),) * 7), r"before \(780, 1080\) ends at 18:00; list a day's"),
        (Calendar(week=((),) * 7), "the calendar has no working time in the week"),
        (Calendar(week=(((540.0, 1080),),) * 7), "pair of whole minutes"),  # type: ignore[arg-type]
        (Calendar(holidays={date(2026, 1, 1)}), "holidays must be a frozenset of dates"),  # type: ignore[arg-type]
        (Calendar(holidays=frozenset({datetime(2026, 1, 1, tzinfo=UTC)})), "a holiday is a whole date"),
    ],
)
def test_validate_names_the_problem(calendar: Calendar, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        validate(calendar)


def test_arithmetic_on_an_invalid_calendar_raises_its_validation_message() -> None:
    with pytest.raises(CalendarError, match="unknown time zone"):
        add_business_time(Calendar(time_zone="Nowhere", week=(NINE_SIX,) * 7), weekday(0), HOUR)
    unhashable = Calendar(week=[NINE_SIX] * 7)  # type: ignore[arg-type]
    with pytest.raises(CalendarError, match="a week has 7 days"):
        is_open(unhashable, weekday(0))


def test_adjacent_intervals_in_a_day_are_valid_and_count_once() -> None:
    split = create_office([(540, 720), (720, 1080)])
    assert business_seconds(split, weekday(0), weekday(1)) == 9 * HOUR


def test_the_builder_refuses_a_weekday_outside_the_week() -> None:
    with pytest.raises(CalendarError, match="weekday 7 is not 0"):
        business_hours("UTC", {7: NINE_TO_SIX})
    with pytest.raises(CalendarError, match="pairs of whole minutes"):
        business_hours("UTC", {0: [(540, 600, 660)]})  # type: ignore[list-item]


def test_calendar_errors_are_value_errors() -> None:
    assert issubclass(CalendarError, ValueError)
    assert issubclass(ICalError, ValueError)


# --- properties -------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    """Any valid calendar: a zone with or without DST, 0-3 intervals a day, a few holidays."""
    week = []
    for _ in range(7):
        bounds = sorted(draw(st.sets(st.integers(0, 1440), max_size=6)))
        bounds = bounds[: len(bounds) // 2 * 2]
        week.append(tuple(zip(bounds[::2], bounds[1::2], strict=True)))
    if not any(week):
        week[draw(st.integers(0, 6))] = ((draw(st.integers(0, 1439)), 1440),)
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2026, 12, 31)), max_size=40))
    calendar = Calendar(time_zone=draw(st.sampled_from(ZONES)), week=tuple(week), holidays=holidays)
    validate(calendar)
    return calendar


starts = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
targets = st.floats(0, 14 * 86400, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(calendars(), starts, targets)
def test_business_seconds_inverts_add_business_time(calendar: Calendar, start: datetime, target: float) -> None:
    due = add_business_time(calendar, start, target)
    assert due >= start
    assert business_seconds(calendar, start, due) == pytest.approx(target, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(calendars(), starts, targets, targets)
def test_add_business_time_is_monotonic(calendar: Calendar, start: datetime, first: float, second: float) -> None:
    low, high = sorted((first, second))
    assert add_business_time(calendar, start, low) <= add_business_time(calendar, start, high)


@settings(max_examples=200, deadline=None)
@given(calendars(), starts)
def test_next_open_is_open_and_nothing_before_it_counts(calendar: Calendar, at: datetime) -> None:
    opening = next_open(calendar, at)
    assert is_open(calendar, opening)
    assert (opening == at) == is_open(calendar, at)
    assert business_seconds(calendar, at, opening) == 0.0


# --- iCalendar holidays -----------------------------------------------------------------------

YEARS_2026_TO_2028 = {"start": date(2026, 1, 1), "end": date(2028, 12, 31)}


def vevent(*lines: str) -> str:
    """One VEVENT with these content lines."""
    return "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in lines) + "END:VEVENT\r\n"


def ics(*events: str) -> str:
    """A VCALENDAR holding these VEVENTs."""
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ticketloop//tests//EN\r\n"
    return head + "".join(events) + "END:VCALENDAR\r\n"


def holidays_in(text: str | bytes, **window: date) -> list[tuple[str, str]]:
    """The parsed holidays as (ISO date, name) for readable assertions."""
    found = parse_holidays(text, **(window or YEARS_2026_TO_2028))
    return [(holiday.day.isoformat(), holiday.name) for holiday in found]


def test_an_all_day_event_covers_its_date() -> None:
    text = ics(vevent("UID:xmas", "DTSTART;VALUE=DATE:20261225", "SUMMARY:Christmas Day"))
    assert parse_holidays(text, **YEARS_2026_TO_2028) == [Holiday(date(2026, 12, 25), "Christmas Day")]


def test_a_multi_day_event_covers_each_date_up_to_its_exclusive_end() -> None:
    text = ics(vevent("UID:b", "DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261227", "SUMMARY:Break"))
    assert holidays_in(text) == [("2026-12-24", "Break"), ("2026-12-25", "Break"), ("2026-12-26", "Break")]


def test_a_yearly_rule_is_expanded_over_three_years_with_its_exdate() -> None:
    text = ics(
        vevent("UID:x", "DTSTART;VALUE=DATE:20201225", "RRULE:FREQ=YEARLY", "SUMMARY:Christmas"),
        vevent("UID:n", "DTSTART;VALUE=DATE:20200101", "RRULE:FREQ=YEARLY", "EXDATE;VALUE=DATE:20270101", "SUMMARY:NY"),
    )
    assert holidays_in(text) == [
        ("2026-01-01", "NY"),
        ("2026-12-25", "Christmas"),
        ("2027-12-25", "Christmas"),
        ("2028-01-01", "NY"),
        ("2028-12-25", "Christmas"),
    ]


def test_rdates_add_dates_to_an_event() -> None:
    text = ics(vevent("UID:r", "DTSTART;VALUE=DATE:20260501", "RDATE;VALUE=DATE:20270501,20280501", "SUMMARY:May"))
    assert [day for day, _ in holidays_in(text)] == ["2026-05-01", "2027-05-01", "2028-05-01"]


def test_a_timed_event_covers_the_local_dates_it_touches_in_its_own_zone() -> None:
    text = ics(
        # Berlin 23:00-00:30 touches two Berlin dates; in UTC both instants fall on the 24th.
        vevent("UID:eve", "DTSTART;TZID=Europe/Berlin:20261224T230000", "DTEND;TZID=Europe/Berlin:20261225T003000"),
        # 00:30 in Tokyo on New Year's Day is still 31 December in UTC: Tokyo's date counts.
        vevent("UID:ny", "DTSTART;TZID=Asia/Tokyo:20270101T003000", "DURATION:PT1H", "SUMMARY:New Year"),
        # A UTC event ending at midnight does not touch the next day.
        vevent("UID:utc", "DTSTART:20270302T220000Z", "DTEND:20270303T000000Z", "SUMMARY:Late shift"),
    )
    assert holidays_in(text) == [
        ("2026-12-24", ""),
        ("2026-12-25", ""),
        ("2027-01-01", "New Year"),
        ("2027-03-02", "Late shift"),
    ]


def test_dates_are_deduplicated_and_the_first_event_in_the_file_names_them() -> None:
    text = ics(
        vevent("UID:1", "DTSTART;VALUE=DATE:20261225", "SUMMARY:Christmas Day"),
        vevent("UID:2", "DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261227", "SUMMARY:Office closed"),
    )
    assert holidays_in(text) == [
        ("2026-12-24", "Office closed"),
        ("2026-12-25", "Christmas Day"),
        ("2026-12-26", "Office closed"),
    ]


def test_only_dates_in_the_range_are_returned_and_bytes_are_read() -> None:
    text = ics(vevent("UID:y", "DTSTART;VALUE=DATE:20261231", "DTEND;VALUE=DATE:20270103", "SUMMARY:Ny"))
    assert holidays_in(text.encode(), start=date(2027, 1, 1), end=date(2027, 1, 1)) == [("2027-01-01", "Ny")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello world\nthis is not a calendar", "no VCALENDAR in the file: it must start with BEGIN:VCALENDAR"),
        (b"\x00\xff\xfe\xfd", "the file is not UTF-8 text"),
        ("", "no VCALENDAR in the file: it is empty"),
        (vevent("UID:1", "DTSTART;VALUE=DATE:20261225"), "line 1 is 'BEGIN:VEVENT'"),
        (ics(), "no VEVENT in the file"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20261225", "not a property")), "line 7: 'not a property' is not"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:2026122")), "line 6: DTSTART: "),
        (ics(vevent("UID:1", "SUMMARY:x")), "line 4: VEVENT without DTSTART"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=BLAH")), "line 7: RRULE: "),
        (ics(vevent("UID:1", "DTSTART:20260101T000000Z", "RRULE:FREQ=MINUTELY")), "line 7: RRULE repeats within a day"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20000101", "RRULE:FREQ=DAILY")), "more than 5000 dates"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20261225")).replace("END:VCALENDAR\r\n", ""), "never closed"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20261225")) + "END:VEVENT\r\n", "END:VEVENT without a matching"),
        (ics(vevent("UID:1", "DTSTART;VALUE=DATE:20261225")).replace("VERSION", "CALSCALE:JULIAN\r\nX"), "Gregorian"),
        ("/etc/passwd", "no VCALENDAR in the file"),
    ],
)
def test_unreadable_files_raise_ical_error_with_a_clear_message(text: str | bytes, message: str) -> None:
    with pytest.raises(ICalError, match=message):
        parse_holidays(text, start=date(1990, 1, 1), end=date(2030, 12, 31))


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ICalError, match="before it starts"):
        parse_holidays(ics(), start=date(2027, 1, 1), end=date(2026, 1, 1))
