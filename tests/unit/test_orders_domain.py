"""The order rules as pure functions (issue 22, item 5): intake's order lifecycle, amounts and the
order-status question; retrospective's purchases, annual spend and growth signals, potential from
a real signal, and care anticipated after each order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ticketloop_intake.orders.domain import (
    KnownOrder,
    may_change,
    money,
    order_asked_about,
    parse_amount,
    reached_later,
    status_sentence,
)
from ticketloop_retrospective.care.domain import Anchor, anticipation_due, anticipation_moment
from ticketloop_retrospective.customers.domain import DEFAULT_REASON, CustomerFacts, SegmentRules, segment_for
from ticketloop_retrospective.orders.domain import Purchase, is_purchase, stats_of
from ticketloop_shared.events import OrderStatus as S
from ticketloop_shared.vocabulary import Segment

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


# --- intake: what a commerce system may report ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount"),
    [("129.90", Decimal("129.90")), ("0", Decimal(0)), ("12.3456", Decimal("12.3456")), ("1500", Decimal(1500))],
)
def test_an_amount_is_an_exact_decimal_string(text: str, amount: Decimal) -> None:
    assert parse_amount(text) == amount


@pytest.mark.parametrize("text", ["-3", "1e3", "12.34567", "01.5", "12,50", " 5", "", "NaN", "Infinity"])
def test_anything_else_is_not_an_amount(text: str) -> None:
    assert parse_amount(text) is None


def test_amounts_are_shown_with_cents_and_no_more_zeros() -> None:
    assert [str(money(Decimal(v))) for v in ("129.9000", "1500.0000", "0.1234", "7")] == [
        "129.90",
        "1500.00",
        "0.1234",
        "7.00",
    ]


def test_an_order_moves_forward_and_may_skip_steps_but_never_back_or_out_of_a_final_status() -> None:
    assert may_change(S.PLACED, S.DELIVERED)  # cash on delivery: never `paid` first
    assert may_change(S.PAID, S.CANCELLED) and may_change(S.DELIVERED, S.RETURNED)
    assert not may_change(S.SHIPPED, S.PAID)
    assert not may_change(S.SHIPPED, S.CANCELLED)  # once shipped it comes back as a return
    assert not any(may_change(S.CANCELLED, s) or may_change(S.RETURNED, s) for s in S)


def test_an_earlier_status_reported_again_is_old_news_a_later_one_is_not() -> None:
    assert reached_later(S.PLACED, S.DELIVERED) and reached_later(S.SHIPPED, S.SHIPPED)
    assert not reached_later(S.SHIPPED, S.PAID)
    assert not reached_later(S.CANCELLED, S.PLACED)


# --- intake: the order-status question ------------------------------------------------------------

LATEST = KnownOrder("SO-2", S.SHIPPED, NOW - timedelta(days=2), NOW - timedelta(days=1))
OLDER = KnownOrder("SO-1", S.DELIVERED, NOW - timedelta(days=20), NOW - timedelta(days=15))
ORDERS = [LATEST, OLDER]


def test_a_logistics_question_is_answered_from_the_latest_order() -> None:
    asked = order_asked_about(category="logistics_delay", need="information", text="Where is it?", orders=ORDERS)
    assert asked == LATEST


def test_the_word_order_in_any_category_asks_about_the_latest_order_and_an_order_id_names_one() -> None:
    assert order_asked_about(category="other", need="information", text="Status of my ORDER?", orders=ORDERS) == LATEST
    assert order_asked_about(category="other", need="information", text="我的订单呢", orders=ORDERS) == LATEST
    named = order_asked_about(category="billing", need="information", text="About SO-1, please", orders=ORDERS)
    assert named == OLDER


def test_no_order_answer_for_other_needs_other_topics_or_a_customer_without_orders() -> None:
    assert order_asked_about(category="logistics_delay", need="refund", text="my order", orders=ORDERS) is None
    assert order_asked_about(category="account", need="information", text="password reset", orders=ORDERS) is None
    assert order_asked_about(category="logistics_delay", need="information", text="my order", orders=[]) is None
    # "border" is not "order"
    assert order_asked_about(category="other", need="information", text="border crossing", orders=ORDERS) is None


def test_the_answer_says_which_order_and_where_it_stands() -> None:
    assert (
        status_sentence(LATEST) == "Your order SO-2 of 2026-11-21 has been shipped (last update 2026-11-22 09:00 UTC)."
    )


# --- retrospective: spend and growth signals ------------------------------------------------------


def purchase(days_ago: float, amount: str = "100", *, currency: str = "EUR", status: str = "delivered") -> Purchase:
    return Purchase(Decimal(amount), currency, status, NOW - timedelta(days=days_ago))


def test_cancelled_and_returned_orders_are_no_purchase() -> None:
    assert is_purchase("placed") and is_purchase("delivered")
    assert not is_purchase("cancelled") and not is_purchase("returned")


def test_annual_spend_sums_the_last_365_days_of_purchases_in_the_reporting_currency_only() -> None:
    stats = stats_of(
        [
            purchase(10, "100"),
            purchase(364, "50"),
            purchase(366, "1000"),  # over a year ago
            purchase(5, "70", status="cancelled"),
            purchase(3, "999", currency="USD"),  # another currency: left out (counted in a metric)
        ],
        now=NOW,
        currency="EUR",
        recent_days=90,
    )
    assert stats.has_orders and stats.annual_spend == Decimal(150)
    assert stats.recent_purchases == 2  # SO at 10 days and the USD one at 3: a purchase is a purchase


def test_spend_rising_compares_the_last_quarter_with_the_one_before() -> None:
    rising = stats_of([purchase(20, "300"), purchase(120, "100")], now=NOW, currency="EUR", recent_days=90)
    falling = stats_of([purchase(20, "100"), purchase(120, "300")], now=NOW, currency="EUR", recent_days=90)
    assert rising.spend_rising and not falling.spend_rising
    nothing = stats_of([], now=NOW, currency="EUR", recent_days=90)
    assert not nothing.has_orders and nothing.annual_spend == 0 and not nothing.spend_rising


# --- retrospective: potential from a real signal --------------------------------------------------


def settled(**overrides: object) -> CustomerFacts:
    """A customer of six months (neither new nor loyal), heard from today, nothing wrong."""
    values: dict[str, object] = {"first_seen_at": NOW, "customer_since": date(2026, 5, 20), "last_interaction_at": NOW}
    values.update(overrides)
    return CustomerFacts(**values)  # type: ignore[arg-type]


def test_potential_names_its_growth_signals() -> None:
    decision = segment_for(
        settled(recent_purchases=2, spend_rising=True), now=NOW, spend_threshold=None, rules=SegmentRules()
    )
    assert decision == segment_for(
        settled(recent_purchases=1, spend_rising=True), now=NOW, spend_threshold=None, rules=SegmentRules()
    )
    assert (decision.segment, decision.reasons) == (Segment.POTENTIAL, ("purchase_within_90d", "spend_rising"))


def test_without_a_growth_signal_potential_is_the_documented_remainder() -> None:
    decision = segment_for(settled(), now=NOW, spend_threshold=None, rules=SegmentRules())
    assert (decision.segment, decision.reasons) == (Segment.POTENTIAL, (DEFAULT_REASON,))


def test_a_growth_signal_never_outranks_another_segment() -> None:
    new = segment_for(
        settled(customer_since=date(2026, 11, 1), recent_purchases=1),
        now=NOW,
        spend_threshold=None,
        rules=SegmentRules(),
    )
    top = segment_for(
        settled(annual_spend=900.0, recent_purchases=1), now=NOW, spend_threshold=500.0, rules=SegmentRules()
    )
    assert (new.segment, top.segment) == (Segment.NEW, Segment.HIGH_VALUE)


# --- retrospective: care after an order -----------------------------------------------------------


def test_an_order_anchored_rule_falls_due_n_days_after_the_order() -> None:
    ordered = NOW - timedelta(days=5)
    moment = anticipation_moment(Anchor.ORDER, 3, customer_since=None, first_seen_at=NOW, ordered_at=ordered)
    assert moment == ordered + timedelta(days=3)
    assert anticipation_moment(Anchor.ORDER, 3, customer_since=None, first_seen_at=NOW) is None
    assert anticipation_due(moment, active_from=NOW - timedelta(days=30), now=NOW)
    assert not anticipation_due(moment, active_from=NOW - timedelta(days=1), now=NOW)  # before the rule existed
