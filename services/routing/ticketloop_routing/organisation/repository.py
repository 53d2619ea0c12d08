"""All SQL about the organisation and agents' presence."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments.models import AgentLoad
from ticketloop_routing.organisation.models import Agent, CategoryRoute, Department, OrganisationVersion


async def lock(session: AsyncSession) -> None:
    """Serialise organisation changes until the transaction ends (so `If-Match` is checked and
    the change made against the same version)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('ticketloop.routing.organisation'))"))


async def has_departments(session: AsyncSession) -> bool:
    """Whether any organisation was loaded yet."""
    return (await session.scalar(select(func.count()).select_from(Department))) != 0


async def replace(
    session: AsyncSession,
    *,
    departments: list[Department],
    agents: list[Agent],
    routes: list[CategoryRoute],
    at: datetime,
) -> None:
    """Swap the whole organisation in one transaction (assignments keep their history), give
    every agent its live-state row, and change the version every process's cache checks."""
    await session.execute(delete(CategoryRoute))
    await session.execute(delete(Agent))
    await session.execute(delete(Department))
    await session.flush()
    session.add_all(departments)
    await session.flush()
    session.add_all(agents)
    session.add_all(routes)
    await session.flush()
    if agents:
        await session.execute(insert(AgentLoad).values([{"agent_id": a.id} for a in agents]).on_conflict_do_nothing())
    await session.execute(
        insert(OrganisationVersion)
        .values(id=1, version=uuid.uuid4(), changed_at=at)
        .on_conflict_do_update(
            index_elements=[OrganisationVersion.id], set_={"version": uuid.uuid4(), "changed_at": at}
        )
    )


async def version(session: AsyncSession) -> uuid.UUID | None:
    """The stored organisation's version."""
    return await session.scalar(select(OrganisationVersion.version).where(OrganisationVersion.id == 1))


async def departments(session: AsyncSession) -> Sequence[Department]:
    """Every department, by id."""
    return (await session.scalars(select(Department).order_by(Department.id))).all()


async def configured_agents(session: AsyncSession) -> Sequence[Agent]:
    """Every agent as configured, by id."""
    return (await session.scalars(select(Agent).order_by(Agent.id))).all()


@dataclass(frozen=True)
class AgentRow:
    """An agent as configured, with its live state."""

    agent: Agent
    open_tickets: int
    presence: str
    presence_changed_at: datetime | None


async def agents(
    session: AsyncSession, *, department_id: str | None = None, agent_id: str | None = None
) -> Sequence[AgentRow]:
    """Agents with their open-ticket counts and presence, by id."""
    stmt = (
        select(
            Agent,
            func.coalesce(AgentLoad.open_tickets, 0),
            func.coalesce(AgentLoad.presence, "available"),
            AgentLoad.presence_changed_at,
        )
        .outerjoin(AgentLoad, AgentLoad.agent_id == Agent.id)
        .order_by(Agent.id)
    )
    if department_id is not None:
        stmt = stmt.where(Agent.department_id == department_id)
    if agent_id is not None:
        stmt = stmt.where(Agent.id == agent_id)
    return [
        AgentRow(agent=a, open_tickets=int(n), presence=str(p), presence_changed_at=at)
        for a, n, p, at in (await session.execute(stmt)).all()
    ]


async def set_presence(session: AsyncSession, agent_id: str, presence: str, *, at: datetime) -> str | None:
    """Record an agent's presence (its time only when it changes); returns the presence before."""
    before = await session.scalar(select(AgentLoad.presence).where(AgentLoad.agent_id == agent_id).with_for_update())
    if before == presence:
        return before
    await session.execute(
        insert(AgentLoad)
        .values(agent_id=agent_id, presence=presence, presence_changed_at=at)
        .on_conflict_do_update(
            index_elements=[AgentLoad.agent_id], set_={"presence": presence, "presence_changed_at": at}
        )
    )
    return before


async def routes(session: AsyncSession) -> Sequence[CategoryRoute]:
    """The category map."""
    return (await session.scalars(select(CategoryRoute).order_by(CategoryRoute.category))).all()
