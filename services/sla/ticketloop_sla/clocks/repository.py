"""All SQL about SLA clocks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.events import ClockOutcome
from ticketloop_sla.clocks.models import SlaClock

# Compiled once and run with the rows as parameters (a VALUES list built per call would be
# compiled per call: most of sla's CPU under load).
_INSERT_MISSING = insert(cast(Table, SlaClock.__table__)).on_conflict_do_nothing(index_elements=["ticket_id", "kind"])


async def insert_missing(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert clocks that do not exist yet and leave existing ones untouched (events repeat and reorder)."""
    await session.execute(_INSERT_MISSING, [dict(r) for r in rows])


async def get(session: AsyncSession, ticket_id: uuid.UUID, kind: str, *, for_update: bool = False) -> SlaClock | None:
    """One clock; `for_update` locks it (waiting for a sweep that holds it) for a state change."""
    stmt = select(SlaClock).where(SlaClock.ticket_id == ticket_id, SlaClock.kind == kind)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def for_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[SlaClock]:
    """A ticket's clocks, first response before resolution."""
    return (
        await session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket_id).order_by(SlaClock.kind))
    ).all()


async def lock_due(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[SlaClock]:
    """Running clocks past their deadline, earliest first, locked; rows another sweep holds are skipped."""
    return (
        await session.scalars(
            select(SlaClock)
            .where(SlaClock.status == ClockOutcome.RUNNING.value, SlaClock.due_at <= now)
            .order_by(SlaClock.due_at, SlaClock.ticket_id, SlaClock.kind)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()


async def breached_page(session: AsyncSession, *, limit: int, offset: int) -> tuple[Sequence[SlaClock], int]:
    """A page of breached clocks, newest breach first, and how many there are."""
    where = SlaClock.status == ClockOutcome.BREACHED.value
    total = await session.scalar(select(func.count()).select_from(SlaClock).where(where))
    rows = (
        await session.scalars(
            select(SlaClock)
            .where(where)
            .order_by(SlaClock.breached_at.desc(), SlaClock.ticket_id.desc(), SlaClock.kind)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return rows, int(total or 0)
