"""All SQL about assignments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments.models import AgentLoad, Assignment
from ticketloop_routing.organisation.models import Agent

_ASSIGNMENTS: Table = cast(Table, Assignment.__table__)
_INSERT_IF_NEW = insert(_ASSIGNMENTS).on_conflict_do_nothing().returning(_ASSIGNMENTS.c.ticket_id)


async def get(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Assignment | None:
    """The assignment of a ticket, if routing has seen it."""
    stmt = select(Assignment).where(Assignment.ticket_id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def least_loaded_agent(session: AsyncSession, department_id: str) -> Agent | None:
    """The active agent of a department with the fewest open tickets (ties: by id).

    One indexed read of the load counters. Two replicas assigning in the same department at the
    same instant may both pick the same agent; the counters stay exact (each assignment adds
    one atomically), only the balance is off by one until the next choice.
    """
    return await session.scalar(
        select(Agent)
        .outerjoin(AgentLoad, AgentLoad.agent_id == Agent.id)
        .where(Agent.department_id == department_id, Agent.active.is_(True))
        .order_by(func.coalesce(AgentLoad.open_tickets, 0), Agent.id)
        .limit(1)
    )


async def insert_if_new(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    ticket_number: str,
    category: str,
    department_id: str,
    agent_id: str,
    assigned_at: datetime,
) -> bool:
    """Record the assignment unless routing already has a row for the ticket; True if written."""
    written = await session.execute(
        _INSERT_IF_NEW,
        {
            "ticket_id": ticket_id,
            "ticket_number": ticket_number,
            "category": category,
            "department_id": department_id,
            "agent_id": agent_id,
            "assigned_at": assigned_at,
        },
    )
    return written.first() is not None


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
