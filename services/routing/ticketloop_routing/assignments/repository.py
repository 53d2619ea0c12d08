"""All SQL about assignments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments.models import AgentLoad, Assignment

_ASSIGNMENTS: Table = cast(Table, Assignment.__table__)

# The whole assignment in one round trip: the department owning the category (else the
# fallback), its active agent with the fewest open tickets (ties: by id), the assignment row
# unless routing already has one for the ticket, and that agent's counter. Data-modifying
# CTEs always run to completion; `created` says whether this call wrote the assignment.
_ASSIGN = text(
    """
WITH dept AS (
    SELECT d.id, d.name FROM departments d
    LEFT JOIN category_routes r ON r.department_id = d.id AND r.category = :category
    WHERE r.category IS NOT NULL OR d.is_fallback
    ORDER BY r.category IS NULL
    LIMIT 1
), pick AS (
    SELECT a.id, a.name FROM agents a
    JOIN dept ON a.department_id = dept.id
    LEFT JOIN agent_load l ON l.agent_id = a.id
    WHERE a.active
    ORDER BY coalesce(l.open_tickets, 0), a.id
    LIMIT 1
), ins AS (
    INSERT INTO assignments (ticket_id, ticket_number, category, department_id, agent_id, assigned_at)
    SELECT :ticket_id, :ticket_number, :category, dept.id, pick.id, :assigned_at FROM dept, pick
    ON CONFLICT DO NOTHING
    RETURNING agent_id
), counted AS (
    INSERT INTO agent_load (agent_id, open_tickets) SELECT agent_id, 1 FROM ins
    ON CONFLICT (agent_id) DO UPDATE SET open_tickets = greatest(agent_load.open_tickets + 1, 0)
    RETURNING agent_id
)
SELECT dept.id AS department_id, dept.name AS department_name, pick.id AS agent_id, pick.name AS agent_name,
       (SELECT count(*) FROM counted) AS created
FROM dept LEFT JOIN pick ON true
"""
)


@dataclass(frozen=True)
class Choice:
    """Where a ticket went: department, agent (None if it has no active agent), and whether
    this call made the assignment (False: routing already knew the ticket)."""

    department_id: str
    department_name: str
    agent_id: str | None
    agent_name: str | None
    created: bool


async def assign(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    ticket_number: str,
    category: str,
    assigned_at: datetime,
) -> Choice | None:
    """Choose, record and count an assignment in one statement; None when no department
    exists at all (no organisation loaded)."""
    row = (
        await session.execute(
            _ASSIGN,
            {"ticket_id": ticket_id, "ticket_number": ticket_number, "category": category, "assigned_at": assigned_at},
        )
    ).first()
    if row is None:
        return None
    return Choice(
        department_id=row.department_id,
        department_name=row.department_name,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        created=bool(row.created),
    )


async def get(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Assignment | None:
    """The assignment of a ticket, if routing has seen it."""
    stmt = select(Assignment).where(Assignment.ticket_id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def add_load(session: AsyncSession, agent_id: str, delta: int) -> None:
    """Count one more (or one fewer) open ticket for the agent."""
    await session.execute(
        insert(AgentLoad)
        .values(agent_id=agent_id, open_tickets=max(delta, 0))
        .on_conflict_do_update(
            index_elements=[AgentLoad.agent_id],
            set_={"open_tickets": func.greatest(AgentLoad.open_tickets + delta, 0)},
        )
    )


async def close(session: AsyncSession, ticket_id: uuid.UUID, *, at: datetime) -> None:
    """Mark the ticket's assignment closed (its agent carries one ticket fewer), or remember
    the ticket as finished if unseen."""
    open_agent = await session.scalar(
        update(Assignment)
        .where(Assignment.ticket_id == ticket_id, Assignment.closed_at.is_(None))
        .values(closed_at=at)
        .returning(Assignment.agent_id)
    )
    if open_agent is not None:
        await add_load(session, open_agent, -1)
        return
    await session.execute(
        insert(Assignment)
        .values(ticket_id=ticket_id, closed_at=at)
        .on_conflict_do_update(
            index_elements=[Assignment.ticket_id],
            set_={"closed_at": func.coalesce(Assignment.closed_at, at)},
        )
    )
