"""Inbox: the ids of handled events, written in the same transaction as their effect, so a
redelivered event is recognised and has no second effect."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


def inbox_table(metadata: MetaData) -> Table:
    """The inbox table, added to a service's own metadata (and its migrations)."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim(session: AsyncSession, table: Table, *, consumer: str, event_id: UUID, event_type: str) -> bool:
    """Record the event as handled by `consumer`; False if it already was (a duplicate)."""
    return event_id in await claim_many(session, table, consumer=consumer, events=[(event_id, event_type)])


async def claim_many(
    session: AsyncSession, table: Table, *, consumer: str, events: Sequence[tuple[UUID, str]]
) -> set[UUID]:
    """Record a batch of events as handled in one statement; returns the ids not seen before.

    A concurrent duplicate blocks on the primary key until the first transaction ends, then
    sees the row: at most one effect even when two group members race after a rebalance.
    """
    if not events:
        return set()
    result = await session.execute(
        insert(table)
        .values(
            [{"consumer": consumer, "event_id": event_id, "event_type": event_type} for event_id, event_type in events]
        )
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return set(result.scalars().all())
