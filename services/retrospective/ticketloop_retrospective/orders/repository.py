"""All SQL of order facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Boolean, ColumnElement, and_, func, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.orders.domain import NOT_PURCHASES, QUARTER, YEAR, OrderStats
from ticketloop_retrospective.orders.models import OrderFact


@dataclass(frozen=True)
class Recorded:
    """What an upsert did: `new` for an order first heard of, `changed` when this revision is
    newer than the one kept (False for a redelivered or older event)."""

    new: bool
    changed: bool


async def record(session: AsyncSession, fact: OrderFact) -> Recorded:
    """Keep the order at its highest revision: a redelivery or an older revision arriving late
    changes nothing. (`xmax = 0` tells an insert from an update in the same statement.)"""
    values = {column.key: getattr(fact, column.key) for column in OrderFact.__table__.columns}
    inserting = insert(OrderFact).values(**values)
    excluded = inserting.excluded
    stmt = inserting.on_conflict_do_update(
        index_elements=[OrderFact.channel_client, OrderFact.order_id],
        set_={
            "customer_id": excluded.customer_id,
            "amount": excluded.amount,
            "currency": excluded.currency,
            "status": excluded.status,
            "ordered_at": excluded.ordered_at,
            "recorded_at": excluded.recorded_at,
            "revision": excluded.revision,
        },
        where=OrderFact.revision < excluded.revision,
    ).returning(literal_column("xmax = 0", Boolean).label("inserted"))
    row = (await session.execute(stmt)).first()
    return Recorded(new=row is not None and bool(row.inserted), changed=row is not None)


async def order_stats(
    session: AsyncSession, customer_id: str, *, now: datetime, currency: str, recent_days: int
) -> OrderStats:
    """The customer's order stats as of `now` (`domain.stats_of`, in one statement)."""
    o = OrderFact
    purchase = o.status.not_in(NOT_PURCHASES)
    mine = and_(purchase, o.currency == currency)

    def spent(since: datetime, until: datetime) -> ColumnElement[Decimal]:
        return func.coalesce(func.sum(o.amount).filter(mine, o.ordered_at > since, o.ordered_at <= until), Decimal(0))

    row = (
        await session.execute(
            select(
                func.count(),
                spent(now - YEAR, now),
                func.count().filter(purchase, o.ordered_at > now - timedelta(days=recent_days), o.ordered_at <= now),
                spent(now - QUARTER, now),
                spent(now - 2 * QUARTER, now - QUARTER),
            ).where(o.customer_id == customer_id)
        )
    ).one()
    return OrderStats(
        has_orders=row[0] > 0,
        annual_spend=Decimal(row[1]),
        recent_purchases=int(row[2]),
        last_quarter=Decimal(row[3]),
        quarter_before=Decimal(row[4]),
    )


async def purchases_between(
    session: AsyncSession,
    *,
    ordered_from: datetime,
    ordered_to: datetime,
    after: tuple[datetime, str, str] | None,
    limit: int,
) -> Sequence[OrderFact]:
    """Purchases ordered in [`ordered_from`, `ordered_to`], by (ordered_at, client, order id),
    from just after `after`."""
    o = OrderFact
    stmt = (
        select(o)
        .where(o.status.not_in(NOT_PURCHASES), o.ordered_at >= ordered_from, o.ordered_at <= ordered_to)
        .order_by(o.ordered_at, o.channel_client, o.order_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(tuple_(o.ordered_at, o.channel_client, o.order_id) > tuple_(*after))
    return (await session.scalars(stmt)).all()


# The customers' segment history is customers' table; the repurchase rate reads it here in SQL
# (customers depends on orders for spend, so orders cannot ask customers' service back).
_REPURCHASE = text(
    """
    WITH cohort AS (
        SELECT c.customer_id
        FROM customers c
        WHERE c.first_seen_at < :start
          AND (CAST(:segment AS text) IS NULL OR (
                SELECT h.segment FROM segment_history h
                WHERE h.customer_id = c.customer_id AND h.changed_at <= :start
                ORDER BY h.changed_at DESC, h.id DESC LIMIT 1
              ) = :segment)
          AND EXISTS (
                SELECT 1 FROM order_facts o
                WHERE o.customer_id = c.customer_id AND o.ordered_at < :start
                  AND o.status <> ALL(CAST(:not_purchases AS text[])))
    )
    SELECT count(*) AS cohort,
           count(*) FILTER (WHERE EXISTS (
                SELECT 1 FROM order_facts o
                WHERE o.customer_id = cohort.customer_id AND o.ordered_at >= :start AND o.ordered_at < :end
                  AND o.status <> ALL(CAST(:not_purchases AS text[])))) AS repurchased
    FROM cohort
    """
)


async def repurchase_counts(
    session: AsyncSession, *, segment: str | None, start: datetime, end: datetime
) -> tuple[int, int]:
    """(cohort, repurchased) as `service.repurchase_rate` defines them."""
    params = {"segment": segment, "start": start, "end": end, "not_purchases": sorted(NOT_PURCHASES)}
    row = (await session.execute(_REPURCHASE, params)).one()
    return int(row.cohort), int(row.repurchased)
