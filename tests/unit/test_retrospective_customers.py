"""retrospective's customer and care rules as pure functions: which segment a customer's facts
put them in and why, the top-spend line, satisfaction on 0–100, when care contacts fall due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ticketloop_retrospective.care.domain import Anchor, Cadence, anticipation_due, anticipation_moment
from ticketloop_retrospective.customers.domain import (
    DEFAULT_REASON,
    CustomerFacts,
    SegmentRules,
    in_top_spend,
    normalised_satisfaction,
    satisfaction_of,
    segment_for,
    spend_threshold,
    top_spend_rank,
)
from ticketloop_shared.events import Dimension
from ticketloop_shared.vocabulary import Segment

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = SegmentRules()


def facts(**overrides: object) -> CustomerFacts:
    """A customer of one month, seen and heard from today, nothing wrong."""
    values: dict[str, object] = {
        "first_seen_at": NOW - timedelta(days=1),
        "customer_since": date(2026, 10, 23),
        "last_interaction_at": NOW - timedelta(days=1),
    }
    values.update(overrides)
    return CustomerFacts(**values)  # type: ignore[arg-type]


def decide(f: CustomerFacts, threshold: float | None = None) -> tuple[Segment, tuple[str, ...]]:
    decision = segment_for(f, now=NOW, spend_threshold=threshold, rules=RULES)
    return decision.segment, decision.reasons


def test_a_customer_of_less_than_three_months_is_new() -> None:
    assert decide(facts()) == (Segment.NEW, ("tenure_under_3m",))
    # the day the third month is complete, they are new no longer
    assert decide(facts(customer_since=date(2026, 8, 23)))[0] is Segment.POTENTIAL
    assert decide(facts(customer_since=date(2026, 8, 24)))[0] is Segment.NEW


def test_without_a_tenure_start_the_relationship_starts_when_first_seen() -> None:
    assert decide(facts(customer_since=None)) == (Segment.NEW, ("tenure_under_3m",))
    old = facts(customer_since=None, first_seen_at=NOW - timedelta(days=80), last_interaction_at=NOW)
    assert decide(old) == (Segment.NEW, ("tenure_under_3m",))
    older = facts(customer_since=None, first_seen_at=NOW - timedelta(days=95), last_interaction_at=NOW)
    assert decide(older) == (Segment.POTENTIAL, (DEFAULT_REASON,))


def test_a_relationship_over_twelve_months_or_a_top_spend_is_high_value() -> None:
    assert decide(facts(customer_since=date(2025, 11, 22))) == (Segment.HIGH_VALUE, ("tenure_over_12m",))
    assert decide(facts(customer_since=date(2025, 11, 23)))[0] is Segment.POTENTIAL  # exactly 12 months
    big = facts(annual_spend=5000.0)
    assert decide(big, threshold=5000.0) == (Segment.HIGH_VALUE, ("top_20pct_spend",))
    assert decide(big, threshold=5000.01)[0] is Segment.NEW
    assert decide(big, threshold=None)[0] is Segment.NEW  # too few spends known for a line
    both = facts(customer_since=date(2020, 1, 1), annual_spend=9000.0)
    assert decide(both, threshold=5000.0) == (Segment.HIGH_VALUE, ("top_20pct_spend", "tenure_over_12m"))


def test_churn_risk_comes_first_with_every_reason() -> None:
    silent = facts(customer_since=date(2020, 1, 1), annual_spend=9000.0, last_interaction_at=NOW - timedelta(days=90))
    assert decide(silent, threshold=10.0) == (Segment.CHURN_RISK, ("no_interaction_90d",))
    assert decide(facts(last_interaction_at=NOW - timedelta(days=89, hours=23)))[0] is Segment.NEW
    unhappy = facts(satisfaction=59.9)
    assert decide(unhappy) == (Segment.CHURN_RISK, ("satisfaction_below_60",))
    assert decide(facts(satisfaction=60.0))[0] is Segment.NEW
    everything = facts(satisfaction=10.0, open_objections=2, last_interaction_at=NOW - timedelta(days=200))
    assert decide(everything) == (
        Segment.CHURN_RISK,
        ("no_interaction_90d", "satisfaction_below_60", "objection_open"),
    )


def test_silence_without_any_interaction_counts_from_the_first_sighting() -> None:
    quiet = facts(last_interaction_at=None, first_seen_at=NOW - timedelta(days=91), customer_since=None)
    assert decide(quiet) == (Segment.CHURN_RISK, ("no_interaction_90d",))


def test_reasons_are_named_after_the_thresholds_in_force() -> None:
    rules = SegmentRules(new_for_months=2, churn_silence_days=30, churn_satisfaction_below=70.5, top_spend_share=0.1)
    names = rules.reason_names()
    assert (names["new"], names["silent"], names["unhappy"], names["spend"]) == (
        "tenure_under_2m",
        "no_interaction_30d",
        "satisfaction_below_70.5",
        "top_10pct_spend",
    )


def test_the_top_spend_line_is_the_spend_ranked_at_the_top_share() -> None:
    assert [top_spend_rank(n, 0.2) for n in (1, 4, 5, 6, 10, 11, 23)] == [1, 1, 1, 2, 2, 3, 5]
    spends = [100.0, 900.0, 300.0, 500.0, 700.0]
    assert spend_threshold(spends, share=0.2, min_customers=5) == 900.0
    assert spend_threshold(spends, share=0.2, min_customers=6) is None
    ten = [float(i) for i in range(1, 11)]
    assert spend_threshold(ten, share=0.2, min_customers=5) == 9.0  # 10 and 9: the top two of ten
    # everyone tied at the line is in; nothing and zero never are
    assert in_top_spend(9.0, 9.0) and in_top_spend(10.0, 9.0) and not in_top_spend(8.99, 9.0)
    assert not in_top_spend(None, 9.0) and not in_top_spend(9.0, None)
    assert not in_top_spend(0.0, 0.0)


@pytest.mark.parametrize(
    ("csat", "dimensions", "nps", "expected"),
    [
        (1, None, None, 0.0),
        (3, None, 9, 50.0),
        (5, {Dimension.OVERALL: 2}, None, 100.0),  # the per-ticket CSAT wins
        (None, {Dimension.OVERALL: 7, Dimension.CARE: 1}, 0, 70.0),
        (None, {Dimension.CARE: 6, Dimension.QUALITY: 9}, None, 75.0),
        (None, None, 4, 40.0),
        (None, None, None, None),
    ],
)
def test_answers_are_normalised_to_0_100(
    csat: int | None, dimensions: dict[Dimension, int] | None, nps: int | None, expected: float | None
) -> None:
    assert normalised_satisfaction(csat=csat, dimensions=dimensions, nps=nps) == expected


def test_satisfaction_is_the_average_of_the_latest_answers() -> None:
    assert satisfaction_of([], window=3) is None
    assert satisfaction_of([0.0, 100.0, 100.0, 0.0], window=3) == pytest.approx(200 / 3)
    assert satisfaction_of([50.0], window=3) == 50.0


def test_a_new_customer_is_contacted_daily_for_two_weeks_then_weekly() -> None:
    cadence = Cadence()
    start = date(2026, 11, 20)  # midnight UTC on the 20th
    at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert cadence.next_contact_at(Segment.NEW, after=at, relationship_start=start) == at + timedelta(days=1)
    last_daily = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # the 14th day begins
    assert cadence.next_contact_at(Segment.NEW, after=last_daily, relationship_start=start) == datetime(
        2026, 12, 4, tzinfo=UTC
    )
    after_two_weeks = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert cadence.next_contact_at(Segment.NEW, after=after_two_weeks, relationship_start=start) == (
        after_two_weeks + timedelta(days=7)
    )


def test_high_value_twice_a_month_churn_risk_twice_a_week_potential_never() -> None:
    cadence = Cadence()
    start = date(2020, 1, 1)
    assert cadence.next_contact_at(Segment.HIGH_VALUE, after=NOW, relationship_start=start) == NOW + timedelta(days=15)
    assert cadence.next_contact_at(Segment.CHURN_RISK, after=NOW, relationship_start=start) == NOW + timedelta(
        days=3, hours=12
    )
    assert cadence.next_contact_at(Segment.POTENTIAL, after=NOW, relationship_start=start) is None
    assert Cadence(potential_every=timedelta(days=30)).next_contact_at(
        Segment.POTENTIAL, after=NOW, relationship_start=start
    ) == NOW + timedelta(days=30)


def test_a_schedule_that_fell_behind_resumes_from_now() -> None:
    cadence = Cadence()
    start = date(2020, 1, 1)
    due = NOW - timedelta(days=30)
    assert cadence.after_firing(Segment.CHURN_RISK, due_at=due, now=NOW, relationship_start=start) == NOW + timedelta(
        days=3.5
    )
    on_time = NOW - timedelta(minutes=1)
    assert cadence.after_firing(
        Segment.CHURN_RISK, due_at=on_time, now=NOW, relationship_start=start
    ) == on_time + timedelta(days=3.5)


def test_anticipation_moments_and_when_they_fire() -> None:
    seen = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)
    assert anticipation_moment(Anchor.FIRST_SEEN, 30, customer_since=None, first_seen_at=seen) == seen + timedelta(
        days=30
    )
    assert anticipation_moment(
        Anchor.CUSTOMER_SINCE, 30, customer_since=date(2026, 11, 1), first_seen_at=seen
    ) == datetime(2026, 12, 1, tzinfo=UTC)
    assert anticipation_moment(Anchor.CUSTOMER_SINCE, 30, customer_since=None, first_seen_at=seen) is None
    created = datetime(2026, 11, 20, tzinfo=UTC)
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    assert not anticipation_due(moment, active_from=created, now=moment - timedelta(seconds=1))
    assert anticipation_due(moment, active_from=created, now=moment)
    # a moment before the rule existed never fires
    assert not anticipation_due(created - timedelta(days=1), active_from=created, now=moment)
    assert not anticipation_due(None, active_from=created, now=moment)
