"""All SQL of orders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.orders.models import Order


async def insert_new(session: AsyncSession, order: Order) -> bool:
    """Insert `order` unless its client already reported its id; False when it had (a concurrent
    first report waits here until the other commits, then finds it)."""
    values = {column.key: getattr(order, column.key) for column in Order.__table__.columns}
    statement = (
        insert(Order)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel_client_id", "order_id"])
        .returning(Order.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def by_client_id(
    session: AsyncSession, *, client_id: uuid.UUID, order_id: str, for_update: bool = False
) -> Order | None:
    """The client's order with the commerce system's id `order_id`."""
    query = select(Order).where(Order.channel_client_id == client_id, Order.order_id == order_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def get(session: AsyncSession, id_: uuid.UUID) -> Order | None:
    """An order by intake's own id (an Idempotency-Key's record names it)."""
    return await session.get(Order, id_, populate_existing=True)


async def latest_of_customer(session: AsyncSession, customer_ids: Sequence[str], *, limit: int) -> Sequence[Order]:
    """The customer's `limit` latest orders, newest ordered first (any client's)."""
    query = (
        select(Order)
        .where(Order.customer_id.in_(list(customer_ids)))
        .order_by(Order.ordered_at.desc(), Order.id)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()
