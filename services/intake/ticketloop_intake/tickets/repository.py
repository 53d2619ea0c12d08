"""All SQL about tickets and their timeline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ticketloop_intake.tickets.models import TICKET_NUMBER_SEQ, Ticket, TimelineEntry


class NumberBlocks:
    """Ticket sequence values taken from PostgreSQL a block at a time, per database.

    Numbers stay unique; gaps (a rollback, a restart) and a slightly different order across
    worker processes are harmless, and a ticket no longer costs a round trip for its number.
    """

    def __init__(self, block: int = 100) -> None:
        self.block = block
        self._free: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()

    async def next(self, session: AsyncSession) -> int:
        """The next number for the session's database."""
        key = str(session.get_bind().engine.url)
        free = self._free.setdefault(key, [])
        while not free:
            async with self._lock:
                if not free:
                    values = await session.scalars(
                        select(TICKET_NUMBER_SEQ.next_value()).select_from(func.generate_series(1, self.block))
                    )
                    free.extend(sorted((int(v) for v in values), reverse=True))
        return free.pop()


NUMBERS = NumberBlocks()


async def insert_new(session: AsyncSession, ticket: Ticket, entry: TimelineEntry) -> None:
    """Write a new ticket and its first timeline entry with Core inserts (no ORM flush, no
    read-back: the hot path of intake)."""
    await session.execute(insert(Ticket).values({c.key: getattr(ticket, c.key) for c in Ticket.__mapper__.columns}))
    await session.execute(
        insert(TimelineEntry).values({c.key: getattr(entry, c.key) for c in TimelineEntry.__mapper__.columns})
    )


async def get(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    """One ticket; `for_update` locks it for a state change."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def get_with_timeline(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    """One ticket with its timeline loaded."""
    return await session.scalar(select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.timeline)))


async def timeline(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[TimelineEntry]:
    """A ticket's timeline, oldest first."""
    return (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.ticket_id == ticket_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    ).all()


async def search(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    category: str | None,
    customer_id: str | None,
    assignee_id: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Ticket], int]:
    """A filtered page of tickets, newest first, and the total matching."""
    stmt = select(Ticket)
    filters = {
        Ticket.status: status,
        Ticket.channel: channel,
        Ticket.category: category,
        Ticket.customer_id: customer_id,
        Ticket.assignee_id: assignee_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = (
        await session.scalars(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
    ).all()
    return rows, int(total or 0)


def add_entry(session: AsyncSession, entry: TimelineEntry) -> None:
    """Stage a timeline entry."""
    session.add(entry)
