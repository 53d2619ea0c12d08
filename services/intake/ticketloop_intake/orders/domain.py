"""The order rules, pure: which status changes a reported order may make, what an amount and a
currency must look like, and when a ticket asks about an order (the order-status answer).

An order's lifecycle as intake accepts it (the commerce system owns the order; intake refuses
only what no shop can mean, e.g. a cancelled order being shipped):

    placed    -> paid | shipped | delivered | cancelled
    paid      -> shipped | delivered | cancelled
    shipped   -> delivered | returned
    delivered -> returned
    cancelled, returned: final

Skipping steps is allowed (cash on delivery is never `paid` before `delivered`); going back is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from ticketloop_shared.events import OrderStatus
from ticketloop_shared.vocabulary import Category, Need

S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLACED: frozenset({S.PAID, S.SHIPPED, S.DELIVERED, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.DELIVERED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.RETURNED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}
# The commerce system's order id: what a URL path segment can carry unescaped.
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
# ISO 4217's shape: three capital letters (the code list itself changes; the shape never does).
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# A non-negative amount with at most 4 decimals (no currency has more) and 14 integer digits.
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,13})(\.[0-9]{1,4})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)


def parse_amount(text: str) -> Decimal | None:
    """The amount a decimal string names exactly, or None when it is not one (`"12.5"`, never
    `12.5` as a float, `"1e3"`, `"-3"` or `"12.34567"`)."""
    return Decimal(text) if _AMOUNT.fullmatch(text) else None


def money(amount: Decimal) -> Decimal:
    """An amount as shown and announced: trailing zeros past the cents dropped (the column keeps
    4 decimals: `129.9000` is shown `129.90`, `0.1234` stays)."""
    shown = amount.normalize()
    exponent = shown.as_tuple().exponent
    return shown.quantize(Decimal("0.01")) if isinstance(exponent, int) and exponent > -2 else shown


def may_change(current: OrderStatus, to: OrderStatus) -> bool:
    """Whether an order in `current` may be reported `to` (the table above)."""
    return to in TRANSITIONS[current]


def reached_later(earlier: OrderStatus, current: OrderStatus) -> bool:
    """Whether `current` is `earlier` or lies after it in the lifecycle: a report saying
    `earlier` is then an old report of the same order (a retry, a delayed webhook), not news."""
    seen, todo = {earlier}, [earlier]
    while todo:
        for following in TRANSITIONS[todo.pop()]:
            if following not in seen:
                seen.add(following)
                todo.append(following)
    return current in seen


# --- the order-status answer ---------------------------------------------------------------------
# A ticket asks about an order when the customer needs information AND either it is filed under
# logistics (where is my parcel?) or its subject or description names an order: the word "order"
# (any case; also Chinese 订单) or one of the customer's own order ids. The answer is about the
# order named, else the customer's latest order (by `ordered_at`).
_ORDER_WORD = re.compile(r"\border\b|订单", re.IGNORECASE)
_ID_CHARS = re.compile(r"[A-Za-z0-9._:-]+")


@dataclass(frozen=True)
class KnownOrder:
    """One of the customer's orders as the answer reads it."""

    order_id: str
    status: OrderStatus
    ordered_at: datetime
    updated_at: datetime


def may_ask_about_an_order(*, need: str) -> bool:
    """The cheap first half of the rule, before any order is looked up: only a request for
    information can be an order-status question."""
    return need == Need.INFORMATION.value


def order_asked_about(*, category: str, need: str, text: str, orders: Sequence[KnownOrder]) -> KnownOrder | None:
    """The order a ticket asks about (`text`: its subject and description; `orders`: the
    customer's, newest first), or None when it asks about none (see the rule above)."""
    if not orders or not may_ask_about_an_order(need=need):
        return None
    words = set(_ID_CHARS.findall(text))
    for order in orders:
        if order.order_id in words:
            return order
    if category == Category.LOGISTICS_DELAY.value or _ORDER_WORD.search(text):
        return orders[0]
    return None


_SAID = {
    S.PLACED: "has been placed and is being prepared",
    S.PAID: "is paid and being prepared for shipping",
    S.SHIPPED: "has been shipped",
    S.DELIVERED: "has been delivered",
    S.CANCELLED: "has been cancelled",
    S.RETURNED: "has been returned",
}


def status_sentence(order: KnownOrder) -> str:
    """The instant answer a channel shows the customer (English; the channel may render the
    structured fields itself instead)."""
    ordered, updated = order.ordered_at.astimezone(UTC), order.updated_at.astimezone(UTC)
    return (
        f"Your order {order.order_id} of {ordered:%Y-%m-%d} {_SAID[order.status]} "
        f"(last update {updated:%Y-%m-%d %H:%M} UTC)."
    )
