"""The review's pure rules: months and periods, the impact × difficulty matrix, pain-point
classes, the hot-category streak, a rectification item's life, the metric dictionary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ticketloop_retrospective.rectification.domain import (
    ItemClosed,
    ItemStatus,
    Measure,
    WeekCount,
    check_transition,
    hot_run,
    is_hot,
    streak_to_open,
)
from ticketloop_retrospective.reports.dictionary import BY_NAME, DRILLDOWN, METRICS, REPORT_CONTEXT, defining
from ticketloop_retrospective.reports.domain import (
    DEFAULT_PAIN_CLASSES,
    Filters,
    InvalidMonth,
    InvalidPeriod,
    PainClass,
    ProblemStats,
    ReportMonth,
    ReportWeek,
    pain_class_of,
    parse_period,
    prioritise,
    trailing,
)
from ticketloop_retrospective.reports.repository import Scope
from ticketloop_retrospective.reports.schemas import Report
from ticketloop_retrospective.settings import RetrospectiveSettings


def test_a_month_runs_from_the_first_to_the_next_first_in_the_report_zone() -> None:
    november = ReportMonth.parse("2026-11", UTC)
    assert (november.starts_at, november.ends_at) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    december = ReportMonth.parse("2026-12", UTC)
    assert december.ends_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert december.previous(UTC).label == "2026-11"
    assert ReportMonth.containing(datetime(2026, 3, 31, 23, tzinfo=UTC), UTC).label == "2026-03"


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "0000-01", "9999-12"])
def test_months_that_are_no_month_are_refused(value: str) -> None:
    with pytest.raises(InvalidMonth) as refused:
        ReportMonth.parse(value, UTC)
    assert refused.value.details == {"month": value}


def test_a_period_is_a_week_or_a_month_and_trails_back_oldest_first() -> None:
    assert isinstance(parse_period("2026-W48", UTC), ReportWeek)
    assert isinstance(parse_period("2026-11", UTC), ReportMonth)
    with pytest.raises(InvalidPeriod):
        parse_period("last week", UTC)
    labels = [p.label for p in trailing(parse_period("2026-W02", UTC), 4, UTC)]
    assert labels == ["2025-W51", "2025-W52", "2026-W01", "2026-W02"]
    assert [p.label for p in trailing(parse_period("2026-02", UTC), 3, UTC)] == ["2025-12", "2026-01", "2026-02"]


def problem(
    category: str, *, customers: int, revenue: float, handling: float | None, reopen: float, departments: int
) -> ProblemStats:
    return ProblemStats(
        category=category,
        tickets=customers,
        customers=customers,
        revenue=revenue,
        handling_minutes=handling,
        reopen_rate=reopen,
        departments=departments,
    )


def test_quick_wins_come_first_then_major_projects_then_fill_ins_then_thankless() -> None:
    ranked = prioritise(
        [
            problem("thankless", customers=1, revenue=100, handling=600, reopen=0.5, departments=3),
            problem("major", customers=10, revenue=9000, handling=600, reopen=0.4, departments=3),
            problem("fill_in", customers=2, revenue=100, handling=10, reopen=0.0, departments=1),
            problem("quick_small", customers=6, revenue=5000, handling=30, reopen=0.0, departments=1),
            problem("quick_big", customers=10, revenue=10000, handling=60, reopen=0.0, departments=1),
        ]
    )
    assert [(p.stats.category, p.quadrant) for p in ranked] == [
        ("quick_big", "quick_win"),
        ("quick_small", "quick_win"),
        ("major", "major_project"),
        ("fill_in", "fill_in"),
        ("thankless", "thankless"),
    ]
    assert [p.rank for p in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0].impact == 1.0 and ranked[2].difficulty == pytest.approx(0.933, abs=0.001)


def test_one_department_is_no_difficulty_and_an_empty_period_ranks_nothing() -> None:
    [only] = prioritise([problem("x", customers=1, revenue=0, handling=None, reopen=0.0, departments=1)])
    assert (only.impact, only.difficulty, only.quadrant) == (0.5, 0.0, "quick_win")
    assert prioritise([]) == []


def test_every_category_has_a_pain_class_and_the_map_is_a_setting() -> None:
    assert pain_class_of("logistics_delay", DEFAULT_PAIN_CLASSES) is PainClass.PROCESS
    assert pain_class_of("service_attitude", DEFAULT_PAIN_CLASSES) is PainClass.EMOTIONAL
    assert pain_class_of("never-heard-of", DEFAULT_PAIN_CLASSES) is PainClass.SERVICE
    settings = RetrospectiveSettings(pain_classes={"billing": "emotional"})
    assert pain_class_of("billing", settings.pain_classes) is PainClass.EMOTIONAL
    with pytest.raises(ValidationError):
        RetrospectiveSettings(pain_classes={"billing": "financial"})


def weeks(*shares: int) -> list[WeekCount]:
    return [WeekCount(f"2026-W{40 + n}", tickets=s, total=100) for n, s in enumerate(shares)]


def test_a_category_is_hot_above_its_threshold_not_at_it() -> None:
    assert is_hot(WeekCount("w", 31, 100), measure=Measure.SHARE, threshold=30)
    assert not is_hot(WeekCount("w", 30, 100), measure=Measure.SHARE, threshold=30)
    assert is_hot(WeekCount("w", 6, 1000), measure=Measure.COUNT, threshold=5)
    assert not is_hot(WeekCount("w", 0, 0), measure=Measure.COUNT, threshold=-1)  # an empty week is never hot


def test_three_hot_weeks_in_a_row_owe_an_item_two_do_not() -> None:
    rule = {"measure": Measure.SHARE, "threshold": 30.0, "required": 3}
    assert streak_to_open(weeks(40, 40), **rule) is None  # type: ignore[arg-type]
    assert streak_to_open(weeks(40, 10, 40, 40), **rule) is None  # type: ignore[arg-type]  # broken run
    streak = streak_to_open(weeks(10, 40, 35, 31), **rule)  # type: ignore[arg-type]
    assert streak is not None and [w.week for w in streak] == ["2026-W41", "2026-W42", "2026-W43"]
    assert streak_to_open(weeks(40, 40, 40, 10), **rule) is None  # type: ignore[arg-type]  # cooled last week
    # The same streak one week longer still starts in the same week: keyed by it, it is the same item.
    longer = hot_run(weeks(10, 40, 35, 31, 50), measure=Measure.SHARE, threshold=30)
    assert longer[0].week == "2026-W41"


def test_an_item_is_worked_to_closed_and_stays_closed() -> None:
    check_transition(ItemStatus.OPEN, ItemStatus.IN_PROGRESS)
    check_transition(ItemStatus.IN_PROGRESS, ItemStatus.CLOSED)
    check_transition(ItemStatus.CLOSED, ItemStatus.CLOSED)
    with pytest.raises(ItemClosed):
        check_transition(ItemStatus.CLOSED, ItemStatus.OPEN)


def test_a_share_threshold_that_can_never_be_exceeded_is_refused() -> None:
    with pytest.raises(ValidationError):
        RetrospectiveSettings(hot_category_threshold=100)
    with pytest.raises(ValidationError):
        RetrospectiveSettings(hot_category_weeks=5, hot_category_lookback_weeks=4)
    assert (
        RetrospectiveSettings(hot_category_measure=Measure.COUNT, hot_category_threshold=500).hot_category_threshold
        == 500
    )


def test_every_drillable_figure_has_its_ticket_set_and_every_metric_is_documented() -> None:
    scope = Scope(datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC), Filters())
    for metric in DRILLDOWN:
        scope.ticket_set(metric, clock=None)  # raises KeyError for a figure without its condition
    assert len(BY_NAME) == len(METRICS)
    for m in METRICS:
        assert m.definition.endswith(".") and m.formula and m.unit and m.source_events, m.name


def test_every_metric_says_which_tickets_it_counts_and_every_report_field_has_its_metric() -> None:
    for m in METRICS:
        assert m.counts.endswith("."), m.name
    # Whatever a report holds besides its context (period, filters, links, headline rows) is a
    # figure some metric defines, even a list that is empty this period.
    for field in set(Report.model_fields) - REPORT_CONTEXT:
        assert defining(field) is not None or any(f.startswith(f"{field}.") for m in METRICS for f in m.figures), field
    for m in METRICS:
        for figure in m.figures:
            assert figure.split(".")[0].split("[")[0] in Report.model_fields, (m.name, figure)
    assert defining("sla.by_metric[].met") is BY_NAME["sla_compliance"]
    assert defining("proactive.recovery.recovery_rate_pct") is BY_NAME["recovery_rate"]
    assert defining("tickets_opened_extra") is None
