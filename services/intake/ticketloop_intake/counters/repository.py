"""All SQL about counters and their queue numbers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.counters.domain import EntryStatus
from ticketloop_intake.counters.models import Counter, QueueEntry

_WAITING = EntryStatus.WAITING.value
_SERVED = EntryStatus.SERVED.value


def add(session: AsyncSession, row: Counter | QueueEntry) -> None:
    """Stage a new counter or queue entry."""
    session.add(row)


async def get_counter(session: AsyncSession, name: str, *, for_update: bool = False) -> Counter | None:
    """One counter; `for_update` serialises the numbering of its queue until the transaction ends."""
    stmt = select(Counter).where(Counter.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def counters(session: AsyncSession) -> Sequence[Counter]:
    """Every counter, by name."""
    return (await session.scalars(select(Counter).order_by(Counter.name))).all()


async def next_seq(session: AsyncSession, counter: str, day: date) -> int:
    """The next number of the counter's day (call with the counter locked)."""
    top = await session.scalar(
        select(func.max(QueueEntry.seq)).where(QueueEntry.counter == counter, QueueEntry.day == day)
    )
    return int(top or 0) + 1


async def get_entry(
    session: AsyncSession,
    counter: str,
    entry_id: uuid.UUID,
    *,
    owner: uuid.UUID | None = None,
    for_update: bool = False,
) -> QueueEntry | None:
    """One entry of one counter (of `owner`'s numbers only, when given); `for_update` locks it
    (waiting for a sweep that holds it)."""
    stmt = select(QueueEntry).where(QueueEntry.id == entry_id, QueueEntry.counter == counter)
    if owner is not None:
        stmt = stmt.where(QueueEntry.channel_client_id == owner)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


_ORDER = (QueueEntry.joined_at, QueueEntry.day, QueueEntry.seq)


async def waiting(session: AsyncSession, counter: str) -> Sequence[QueueEntry]:
    """The counter's live queue, first come first (every client's numbers: their places)."""
    return (
        await session.scalars(
            select(QueueEntry).where(QueueEntry.counter == counter, QueueEntry.status == _WAITING).order_by(*_ORDER)
        )
    ).all()


async def position(session: AsyncSession, entry: QueueEntry) -> int:
    """The entry's place in its counter's queue (1 is next)."""
    ahead = await session.scalar(
        select(func.count())
        .select_from(QueueEntry)
        .where(
            QueueEntry.counter == entry.counter,
            QueueEntry.status == _WAITING,
            tuple_(*_ORDER) < tuple_(entry.joined_at, entry.day, entry.seq),
        )
    )
    return int(ahead or 0) + 1


async def recent_serves(session: AsyncSession, counter: str, *, since: datetime, limit: int) -> list[datetime]:
    """When the counter's latest serves since `since` happened, newest first (at most `limit`)."""
    rows = await session.scalars(
        select(QueueEntry.served_at)
        .where(QueueEntry.counter == counter, QueueEntry.status == _SERVED, QueueEntry.served_at >= since)
        .order_by(QueueEntry.served_at.desc())
        .limit(limit)
    )
    return [at for at in rows if at is not None]


async def earliest_unannounced(session: AsyncSession) -> datetime | None:
    """When the longest-waiting number whose wait was not announced yet joined."""
    earliest: datetime | None = await session.scalar(
        select(func.min(QueueEntry.joined_at)).where(
            QueueEntry.status == _WAITING, QueueEntry.wait_exceeded_at.is_(None)
        )
    )
    return earliest


async def lock_overdue(session: AsyncSession, *, joined_before: datetime, limit: int) -> Sequence[QueueEntry]:
    """Waiting entries not yet announced that joined before `joined_before`, longest waiting
    first, locked; rows another sweep (or a serve) holds are skipped, and a row another sweep
    announced meanwhile no longer matches when re-checked."""
    return (
        await session.scalars(
            select(QueueEntry)
            .where(
                QueueEntry.status == _WAITING,
                QueueEntry.wait_exceeded_at.is_(None),
                QueueEntry.joined_at < joined_before,
            )
            .order_by(QueueEntry.joined_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
