"""The goal rules, from the spec's words: goals are measured against a baseline period, not the
period before; a quiet week meets "complaints −60 %" only when it is 60 % below the baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ticketloop_retrospective.goals.domain import (
    CORE_TOUCHPOINTS,
    BaselineSource,
    Status,
    Target,
    Window,
    assess,
    change_pct,
    csat_satisfaction,
    default_baseline,
    overall_satisfaction,
    parse_baseline,
    per_week,
)
from ticketloop_retrospective.reports.domain import ReportWeek
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.errors import Unprocessable

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)  # 2026-W45
BASELINE = Window("2026-W45..2026-W48", MONDAY, MONDAY + timedelta(weeks=4))
COMPLAINTS = Target.change(-60)


def complaints(baseline_per_week: float, this_week: float) -> Status:
    return assess(
        goal="complaints",
        unit="complaints per week",
        target=COMPLAINTS,
        baseline_window=BASELINE,
        baseline_source=BaselineSource.DEFAULT,
        baseline=baseline_per_week,
        current=this_week,
    ).status


def test_one_quiet_week_does_not_meet_complaints_minus_60_unless_60_below_the_baseline() -> None:
    # Baseline: 10 complaints a week. The week before had 20; this one has 5: half the baseline.
    # Against the previous week that is −75 % and would "meet" the goal; against the baseline it
    # is −50 %, not yet −60 %.
    assert complaints(10, 5) is Status.NOT_MET
    assert complaints(10, 4.1) is Status.NOT_MET
    assert complaints(10, 4) is Status.MET  # exactly 60 % below
    assert complaints(10, 0) is Status.MET


def test_a_week_equal_to_the_baseline_shows_plus_zero() -> None:
    row = assess(
        goal="first_contact_resolution",
        unit="%",
        target=Target.change(40, capped_at=100),
        baseline_window=BASELINE,
        baseline_source=BaselineSource.DEFAULT,
        baseline=50.0,
        current=50.0,
    )
    assert (row.change_pct, row.target_value, row.met, row.status) == (0.0, 70.0, False, Status.NOT_MET)
    assert row.baseline_period == "2026-W45..2026-W48"
    assert change_pct(12.5, 12.5) == 0.0


def test_every_week_after_the_goal_is_reached_stays_met() -> None:
    # FCR +40 % on a baseline of 50: 70 meets it this week, and again next week at 70 (against the
    # previous week it would have to rise to 98).
    fcr = Target.change(40, capped_at=100)
    assert fcr.met(70.0, 50.0) and fcr.met(70.0, 50.0)


def test_response_time_halved_and_a_reduction_is_at_most() -> None:
    halve = Target.change(-50)
    assert halve.value(30.0) == 15.0
    assert halve.met(15.0, 30.0) and not halve.met(15.1, 30.0)
    assert halve.label() == "−50 % on the baseline"


def test_a_change_of_a_negative_nps_counts_from_its_size() -> None:
    nps = Target.change(30)
    assert nps.value(-10.0) == -7.0  # −10 improved by 30 % of its size
    assert nps.value(20.0) == 26.0
    assert change_pct(-7.0, -10.0) == 30.0


def test_a_percentage_target_is_capped_at_100() -> None:
    assert Target.change(25, capped_at=100).value(90.0) == 100.0


def test_absolute_targets_ignore_the_baseline() -> None:
    at_least = Target.at_least(90)
    assert at_least.label() == "≥ 90"
    assert at_least.met(90.0, None) and not at_least.met(89.9, 95.0)


def test_unmeasured_says_why() -> None:
    no_baseline = assess(
        goal="nps",
        unit="score",
        target=Target.change(30),
        baseline_window=None,
        baseline_source=BaselineSource.DEFAULT,
        baseline=None,
        current=12.0,
    )
    assert no_baseline.status is Status.UNMEASURED and no_baseline.note == "no data in the baseline period"
    zero = assess(
        goal="complaints",
        unit="complaints per week",
        target=COMPLAINTS,
        baseline_window=BASELINE,
        baseline_source=BaselineSource.DEFAULT,
        baseline=0.0,
        current=0.0,
    )
    assert zero.status is Status.UNMEASURED and zero.note and "zero baseline" in zero.note


def test_the_default_baseline_is_the_first_four_complete_weeks_of_data() -> None:
    # First ticket on a Wednesday of W44: W44 is incomplete, so W45–W48.
    first = datetime(2026, 10, 28, 15, 30, tzinfo=UTC)
    window = default_baseline(first, UTC, weeks=4)
    assert window.label == "2026-W45..2026-W48"
    assert (window.starts_at, window.ends_at) == (MONDAY, MONDAY + timedelta(weeks=4))
    # Data that begins exactly at Monday 00:00 makes that week complete.
    assert default_baseline(MONDAY, UTC, weeks=4).label == "2026-W45..2026-W48"


def test_a_baseline_names_its_first_and_last_periods() -> None:
    assert parse_baseline("2026-W45..2026-W48", UTC) == BASELINE
    months = parse_baseline("2026-09..2026-10", UTC)
    assert (months.starts_at, months.ends_at) == (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    for bad in ("2026-W48..2026-W45", "2026-W45", "last month", "2026-W45..2026-W60"):
        with pytest.raises(Unprocessable) as caught:
            parse_baseline(bad, UTC)
        assert caught.value.code in {"invalid_baseline", "invalid_week"}


def test_counts_compare_as_weekly_rates() -> None:
    assert per_week(40, BASELINE.starts_at, BASELINE.ends_at) == 10.0
    week = ReportWeek.parse("2026-W49", UTC)
    assert per_week(10, week.starts_at, week.ends_at) == 10.0  # a week equal to the baseline
    november = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert per_week(30, *november) == 7.0


def test_satisfaction_scales() -> None:
    assert overall_satisfaction(overall_avg=8, overall_responses=1, csat_avg=4, csat_responses=1) == 77.5
    assert overall_satisfaction(overall_avg=None, overall_responses=0, csat_avg=None, csat_responses=0) is None
    assert csat_satisfaction(5) == 100.0 and csat_satisfaction(None) is None


def test_core_touchpoints_are_the_customers_channels() -> None:
    assert "proactive" not in CORE_TOUCHPOINTS
    assert set(CORE_TOUCHPOINTS) == {"app", "web", "messaging", "email", "phone", "counter"}


def test_baseline_settings_are_checked_at_start() -> None:
    ok = RetrospectiveSettings(goal_baselines={"complaints": "2026-W45..2026-W48"})
    assert ok.goal_baselines == {"complaints": "2026-W45..2026-W48"}
    with pytest.raises(ValidationError):
        RetrospectiveSettings(goal_baselines={"complaints": "W45"})
    with pytest.raises(ValidationError):
        RetrospectiveSettings(goal_baselines={"happiness": "2026-W45..2026-W48"})
    with pytest.raises(ValidationError):
        RetrospectiveSettings(goal_core_touchpoints=["pigeon"])
