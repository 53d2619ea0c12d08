"""The order rules, pure: which orders are a purchase, what counts as a customer's annual spend,
and the growth signals that put a customer in `potential`.

- A **purchase** is an order whose current status is not `cancelled` or `returned` (an order
  taken back is money the customer did not spend).
- A customer's **annual spend** is the sum of their purchases ordered in the last 365 days, in the
  reporting currency only (`reporting_currency`, a setting). Orders in another currency are not
  converted (no exchange rates are kept): they are left out of the sum and counted in the metric
  `ticketloop_retrospective_orders_other_currency_total{currency}`.
- **Growth signals** (SPEC §5's "potential = the rest with growth signals"): a purchase in the last
  `recent_order_days` (90) days, or rising spend: the last 91 days' spend above the 91 days
  before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ticketloop_shared.events import OrderStatus

YEAR = timedelta(days=365)
QUARTER = timedelta(days=91)
NOT_PURCHASES = frozenset({OrderStatus.CANCELLED.value, OrderStatus.RETURNED.value})


def is_purchase(status: str) -> bool:
    """Whether an order in `status` counts as a purchase (spend, repurchase, anticipation)."""
    return status not in NOT_PURCHASES


@dataclass(frozen=True)
class OrderStats:
    """What a customer's orders say, as of one instant (reporting currency for the sums)."""

    has_orders: bool
    annual_spend: Decimal
    recent_purchases: int
    last_quarter: Decimal
    quarter_before: Decimal

    @property
    def spend_rising(self) -> bool:
        """The last quarter's spend is above the quarter before's."""
        return self.last_quarter > self.quarter_before


@dataclass(frozen=True)
class Purchase:
    """One purchase as the stats read it."""

    amount: Decimal
    currency: str
    status: str
    ordered_at: datetime


def stats_of(purchases: list[Purchase], *, now: datetime, currency: str, recent_days: int) -> OrderStats:
    """The definition `repository.order_stats` computes in SQL (see the module's rules)."""
    counted = [p for p in purchases if is_purchase(p.status) and p.ordered_at <= now]
    mine = [p for p in counted if p.currency == currency]

    def spent(since: datetime, until: datetime) -> Decimal:
        return sum((p.amount for p in mine if since < p.ordered_at <= until), Decimal(0))

    return OrderStats(
        has_orders=bool(purchases),
        annual_spend=spent(now - YEAR, now),
        recent_purchases=sum(1 for p in counted if p.ordered_at > now - timedelta(days=recent_days)),
        last_quarter=spent(now - QUARTER, now),
        quarter_before=spent(now - 2 * QUARTER, now - QUARTER),
    )
