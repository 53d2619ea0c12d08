"""All SQL about rectification items."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import TicketFact, customer_initiated
from ticketloop_retrospective.rectification.models import RectificationItem


async def open_once(session: AsyncSession, values: dict[str, Any]) -> RectificationItem | None:
    """Insert an item; None when its streak already has one (two replicas, or a rerun)."""
    stmt = (
        insert(RectificationItem)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_rectification_items_streak")
        .returning(RectificationItem)
    )
    item: RectificationItem | None = await session.scalar(stmt)
    return item


async def continuing(session: AsyncSession, *, category: str, weeks: Sequence[str]) -> RectificationItem | None:
    """The item of `category` whose streak was still hot in one of `weeks` (the streak goes on)."""
    stmt = select(RectificationItem).where(
        RectificationItem.category == category,
        RectificationItem.streak_started.is_not(None),
        RectificationItem.last_hot_week.in_(weeks),
    )
    return await session.scalar(stmt.limit(1))


async def extend(session: AsyncSession, *, item_id: uuid.UUID, week: str) -> None:
    """The streak was hot again in `week`."""
    await session.execute(
        update(RectificationItem)
        .where(RectificationItem.id == item_id, RectificationItem.last_hot_week < week)
        .values(last_hot_week=week)
    )


async def get(session: AsyncSession, item_id: uuid.UUID, *, for_update: bool = False) -> RectificationItem | None:
    """One item."""
    stmt = select(RectificationItem).where(RectificationItem.id == item_id)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def page(
    session: AsyncSession,
    *,
    status: str | None,
    category: str | None,
    limit: int,
    after: uuid.UUID | None,
    owner_department: str | None = None,
) -> list[RectificationItem]:
    """Items, newest first (ids are time-ordered), filtered."""
    stmt = select(RectificationItem)
    if owner_department is not None:
        stmt = stmt.where(RectificationItem.owner_department == owner_department)
    if status is not None:
        stmt = stmt.where(RectificationItem.status == status)
    if category is not None:
        stmt = stmt.where(RectificationItem.category == category)
    if after is not None:
        stmt = stmt.where(RectificationItem.id < after)
    return list((await session.scalars(stmt.order_by(RectificationItem.id.desc()).limit(limit))).all())


async def main_department(session: AsyncSession, *, category: str, since: datetime, until: datetime) -> str | None:
    """The department most of the category's customer-initiated tickets in the window were
    assigned to (the tickets that made it hot)."""
    f = TicketFact
    count = func.count().label("n")
    stmt = (
        select(f.department_id, count)
        .where(
            f.category == category,
            f.created_at >= since,
            f.created_at < until,
            f.department_id.is_not(None),
            customer_initiated(f),
        )
        .group_by(f.department_id)
        .order_by(count.desc(), f.department_id)
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else str(row[0])
