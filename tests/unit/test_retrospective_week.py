"""The report calendar and figure arithmetic of retrospective, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ticketloop_retrospective.reports.domain import (
    InvalidWeek,
    ReportWeek,
    nps_score,
)
from ticketloop_retrospective.rounding import percent, round_half_up, rounded
from ticketloop_retrospective.settings import RetrospectiveSettings

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_week_runs_monday_to_monday_in_utc() -> None:
    week = ReportWeek.parse("2026-W48", UTC)
    assert week.label == "2026-W48"
    assert week.starts_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert week.ends_at == datetime(2026, 11, 30, tzinfo=UTC)


def test_a_week_is_cut_at_local_midnight_in_the_report_zone() -> None:
    week = ReportWeek.parse("2026-W48", ZoneInfo("Asia/Shanghai"))
    assert week.starts_at.isoformat() == "2026-11-23T00:00:00+08:00"
    assert week.starts_at.astimezone(UTC) == datetime(2026, 11, 22, 16, tzinfo=UTC)


def test_a_week_with_a_daylight_saving_change_is_an_hour_short() -> None:
    week = ReportWeek.parse("2026-W13", BERLIN)  # clocks go forward on Sunday 29 March 2026
    assert week.starts_at.isoformat() == "2026-03-23T00:00:00+01:00"
    assert week.ends_at.isoformat() == "2026-03-30T00:00:00+02:00"
    assert week.ends_at.astimezone(UTC) - week.starts_at.astimezone(UTC) == timedelta(hours=167)


def test_week_1_may_start_in_the_previous_year() -> None:
    assert ReportWeek.parse("2026-W01", UTC).starts_at == datetime(2025, 12, 29, tzinfo=UTC)


def test_week_53_exists_only_in_long_iso_years() -> None:
    assert ReportWeek.parse("2026-W53", UTC).starts_at == datetime(2026, 12, 28, tzinfo=UTC)
    with pytest.raises(InvalidWeek, match="2025 has no ISO week 53"):
        ReportWeek.parse("2025-W53", UTC)


@pytest.mark.parametrize(
    "value",
    ["", "2026-48", "2026-W4", "2026-W048", "2026W48", "2026-w48", " 2026-W48", "2026-W48\n", "26-W48", "２０２６-W48"],
)
def test_malformed_weeks_are_refused(value: str) -> None:
    with pytest.raises(InvalidWeek) as caught:
        ReportWeek.parse(value, UTC)
    assert (caught.value.status_code, caught.value.code) == (422, "invalid_week")


@pytest.mark.parametrize("value", ["2026-W00", "2026-W54", "0000-W10"])
def test_weeks_that_do_not_exist_are_refused(value: str) -> None:
    with pytest.raises(InvalidWeek, match="has no ISO week"):
        ReportWeek.parse(value, UTC)


def test_weeks_at_the_edge_of_the_calendar_are_refused_not_crashed_on() -> None:
    assert ReportWeek.parse("9999-W51", UTC).ends_at == datetime(9999, 12, 27, tzinfo=UTC)
    with pytest.raises(InvalidWeek, match="past the supported calendar"):
        ReportWeek.parse("9999-W52", UTC)  # its Monday is 9999-12-27, its end in year 10000
    assert ReportWeek.parse("0001-W01", UTC).starts_at == datetime(1, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidWeek, match="past the supported calendar"):
        ReportWeek.parse("0001-W01", ZoneInfo("Asia/Shanghai"))  # starts before year 1 in UTC


@pytest.mark.parametrize(
    ("promoters", "detractors", "responses", "score"),
    [
        (0, 0, 0, None),
        (3, 0, 3, 100.0),
        (0, 3, 3, -100.0),
        (1, 1, 3, 0.0),
        (2, 1, 3, 33.3),  # 66.67 − 33.33
        (1, 2, 3, -33.3),
        (2, 0, 3, 66.7),
        (5, 3, 8, 25.0),
        (1, 0, 8, 12.5),
        (0, 1, 16, -6.3),  # −6.25 rounds away from zero, as a reader expects
        (0, 1, 3000, 0.0),  # −0.033 shows as 0.0, never −0.0
    ],
)
def test_nps_is_promoter_share_minus_detractor_share(
    promoters: int, detractors: int, responses: int, score: float | None
) -> None:
    got = nps_score(promoters=promoters, detractors=detractors, responses=responses)
    assert got == score
    if got == 0:
        assert str(got) == "0.0"


def test_percent_is_none_without_a_denominator() -> None:
    assert percent(0, 0) is None
    assert percent(3, 7) == 42.9
    assert percent(1, 8) == 12.5
    assert percent(7, 7) == 100.0


def test_rounding_is_half_up_on_the_decimal_value_not_the_binary_float() -> None:
    assert round(2.675, 2) == 2.67  # what a float does
    assert round_half_up(2.675, 2) == 2.68
    assert round_half_up(Decimal("2.25")) == 2.3
    assert round_half_up(Fraction(11, 3), 2) == 3.67
    assert rounded(None) is None
    assert rounded(Decimal("549.99999")) == 550.0


def test_report_timezone_must_be_a_known_zone() -> None:
    assert RetrospectiveSettings().report_zone is UTC
    assert RetrospectiveSettings(report_timezone="Europe/Berlin").report_zone == BERLIN
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd"):
        with pytest.raises(ValidationError, match="unknown time zone"):
            RetrospectiveSettings(report_timezone=bad)


def test_retrospective_listens_on_its_own_port_and_database() -> None:
    settings = RetrospectiveSettings()
    assert settings.http_port == 8005
    assert settings.http_host == "127.0.0.1"
    assert settings.database_url.endswith("/ticketloop_retrospective")
