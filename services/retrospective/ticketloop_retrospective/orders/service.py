"""The rules of order facts: each `order.recorded` kept at its newest revision; a customer's
spend and growth signals as of now; the orders care anticipates after; and the repurchase rate
the high-value goal measures. Flushes only; the unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.orders import repository
from ticketloop_retrospective.orders.domain import OrderStats
from ticketloop_retrospective.orders.models import OrderFact
from ticketloop_retrospective.rounding import percent
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.events import OrderRecordedData

OTHER_CURRENCY = Counter(
    "ticketloop_retrospective_orders_other_currency_total",
    "Orders first heard of in a currency other than the reporting one (left out of spend: no exchange rates)",
    ["currency"],
)


async def record_order(session: AsyncSession, data: OrderRecordedData, *, settings: RetrospectiveSettings) -> bool:
    """Keep the order at its newest revision; True when this event changed what is kept (a
    redelivered or older event is False: nothing else need follow)."""
    done = await repository.record(
        session,
        OrderFact(
            channel_client=data.channel_client,
            order_id=data.order_id,
            customer_id=data.customer_id,
            amount=data.amount,
            currency=data.currency,
            status=data.status.value,
            ordered_at=data.ordered_at,
            recorded_at=data.recorded_at,
            revision=data.revision,
        ),
    )
    if done.new and data.currency != settings.reporting_currency:
        OTHER_CURRENCY.labels(currency=data.currency).inc()
    return done.changed


async def stats_of(
    session: AsyncSession, customer_id: str, *, settings: RetrospectiveSettings, now: datetime
) -> OrderStats:
    """The customer's annual spend (reporting currency, last 365 days) and growth signals as of `now`."""
    return await repository.order_stats(
        session,
        customer_id,
        now=now,
        currency=settings.reporting_currency,
        recent_days=settings.potential_recent_order_days,
    )


@dataclass(frozen=True)
class OrderMoment:
    """A purchase care may anticipate after: `ref` names it uniquely (client and order id)."""

    ref: str
    customer_id: str
    ordered_at: datetime
    key: tuple[datetime, str, str]


async def purchases_between(
    session: AsyncSession, *, ordered_from: datetime, ordered_to: datetime, after: OrderMoment | None, limit: int
) -> list[OrderMoment]:
    """Purchases ordered in the range (cancelled and returned orders are none), in order, from
    just after `after`."""
    rows = await repository.purchases_between(
        session,
        ordered_from=ordered_from,
        ordered_to=ordered_to,
        after=after.key if after is not None else None,
        limit=limit,
    )
    return [
        OrderMoment(
            ref=f"{r.channel_client}:{r.order_id}",
            customer_id=r.customer_id,
            ordered_at=r.ordered_at,
            key=(r.ordered_at, r.channel_client, r.order_id),
        )
        for r in rows
    ]


async def repurchase_rate(
    session: AsyncSession, *, segment: str | None, start: datetime, end: datetime
) -> float | None:
    """The repurchase rate of a segment over [`start`, `end`), in percent (0–100).

    Cohort: the customers known before `start` who were in `segment` at `start` (their latest
    segment change at or before it; every known customer when `segment` is None) and who had
    made a purchase before `start` (an order not cancelled or returned). Repurchased: those of
    the cohort with a purchase ordered in [`start`, `end`) — a purchase after an earlier one.
    The rate is repurchased / cohort × 100, to one decimal (half up); None when the cohort is
    empty (nothing to measure).
    Any currency counts: a purchase is a purchase, whatever it was paid in.
    """
    cohort, repurchased = await repository.repurchase_counts(session, segment=segment, start=start, end=end)
    return percent(repurchased, cohort)
