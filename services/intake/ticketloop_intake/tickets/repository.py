"""All SQL about tickets and their timeline."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import TextClause, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ticketloop_intake.db import Base
from ticketloop_intake.tickets.models import TICKET_NUMBER_SEQ, Ticket, TimelineEntry


class NumberBlocks:
    """Ticket sequence values taken from PostgreSQL a block at a time, per database.

    Numbers stay unique; gaps (a rollback, a restart) and a slightly different order across
    worker processes are harmless, and a ticket no longer costs a round trip for its number.
    No lock: a request waiting on one while other requests hold pooled connections and wait on
    it would deadlock the pool; two requests refilling at once just take two blocks.
    """

    def __init__(self, block: int = 100) -> None:
        self.block = block
        self._free: dict[str, list[int]] = {}

    async def next(self, session: AsyncSession) -> int:
        """The next number for the session's database."""
        free = self._free.setdefault(str(session.get_bind().engine.url), [])
        while not free:
            values = await session.scalars(
                select(TICKET_NUMBER_SEQ.next_value()).select_from(func.generate_series(1, self.block))
            )
            free.extend(sorted((int(v) for v in values), reverse=True))
        return free.pop()


NUMBERS = NumberBlocks()
_TICKETS = Base.metadata.tables["tickets"]
_TIMELINE = Base.metadata.tables["timeline"]
_OUTBOX = Base.metadata.tables["outbox"]
_OUTBOX_COLUMNS = ("event_id", "topic", "key", "event_type", "payload", "headers")


def _create_statement() -> TextClause:
    """Ticket, first timeline entry and the outbox row in one statement (one round trip)."""

    def values(prefix: str, names: list[str]) -> str:
        return ", ".join(f":{prefix}{n}" for n in names)

    tickets = [c.name for c in _TICKETS.columns]
    timeline = [c.name for c in _TIMELINE.columns]
    outbox = list(_OUTBOX_COLUMNS)
    return text(
        f"WITH t AS (INSERT INTO tickets ({', '.join(tickets)}) VALUES ({values('t_', tickets)})), "
        f"e AS (INSERT INTO timeline ({', '.join(timeline)}) VALUES ({values('e_', timeline)})) "
        f"INSERT INTO outbox ({', '.join(outbox)}) VALUES ({values('o_', outbox)})"
    ).bindparams(bindparam("o_headers", type_=JSONB))


_CREATE = _create_statement()


async def insert_new(
    session: AsyncSession, ticket: Ticket, entry: TimelineEntry, *, outbox_row: dict[str, object]
) -> None:
    """Write a new ticket, its first timeline entry and its `ticket.created` outbox row in one
    statement: the hot path of the whole system (no ORM flush, no read-back)."""
    params: dict[str, object] = {f"t_{c.name}": getattr(ticket, c.key) for c in _TICKETS.columns}
    params.update({f"e_{c.name}": getattr(entry, c.key) for c in _TIMELINE.columns})
    params.update({f"o_{name}": outbox_row[name] for name in _OUTBOX_COLUMNS})
    await session.execute(_CREATE, params)


async def apply_assignment(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    statuses: Mapping[str, str],
    agent_id: str,
    agent_name: str,
    department_id: str,
    department_name: str,
    assigned_at: datetime,
    entry_id: uuid.UUID,
    entry_body: bytes,
) -> bool:
    """Set the owner (status moved by `statuses`) and add the timeline entry, unless a newer
    assignment is already shown; False when nothing was applied (or no such ticket). One
    precompiled statement: intake applies one per ticket, while it also takes new ones."""
    moves = sorted(statuses.items())
    params: dict[str, object] = {
        "ticket_id": ticket_id,
        "agent_id": agent_id,
        "agent_name": agent_name,
        "department_id": department_id,
        "department_name": department_name,
        "assigned_at": assigned_at,
        "entry_id": entry_id,
        "entry_body": entry_body,
    }
    for i, (old, new) in enumerate(moves):
        params[f"old{i}"], params[f"new{i}"] = old, new
    result = await session.execute(_assignment_statement(len(moves)), params)
    return result.first() is not None


@cache
def _assignment_statement(moves: int) -> TextClause:
    whens = " ".join(f"WHEN :old{i} THEN :new{i}" for i in range(moves))
    return text(
        "WITH updated AS ("
        f"UPDATE tickets SET status = CASE status {whens} ELSE status END, "
        "assignee_id = :agent_id, assignee_name = :agent_name, department_id = :department_id, "
        "department_name = :department_name, assigned_at = :assigned_at, updated_at = now() "
        "WHERE id = :ticket_id AND (assigned_at IS NULL OR assigned_at <= :assigned_at) RETURNING id) "
        "INSERT INTO timeline (id, ticket_id, at, kind, actor, body) "
        "SELECT :entry_id, id, :assigned_at, 'assigned', 'routing', :entry_body FROM updated "
        "RETURNING ticket_id"
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
    channel_client_id: uuid.UUID | None = None,
) -> tuple[Sequence[Ticket], int]:
    """A filtered page of tickets, newest first, and the total matching."""
    stmt = select(Ticket)
    filters = {
        Ticket.status: status,
        Ticket.channel: channel,
        Ticket.category: category,
        Ticket.customer_id: customer_id,
        Ticket.assignee_id: assignee_id,
        Ticket.channel_client_id: channel_client_id,
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
