"""All SQL about the organisation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments.models import AgentLoad
from ticketloop_routing.organisation.models import Agent, CategoryRoute, Department


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
) -> None:
    """Swap the whole organisation in one transaction (assignments keep their history)."""
    await session.execute(delete(CategoryRoute))
    await session.execute(delete(Agent))
    await session.execute(delete(Department))
    await session.flush()
    session.add_all(departments)
    await session.flush()
    session.add_all(agents)
    session.add_all(routes)
    await session.flush()


async def departments(session: AsyncSession) -> Sequence[Department]:
    """Every department, by id."""
    return (await session.scalars(select(Department).order_by(Department.id))).all()


async def agents(session: AsyncSession, *, department_id: str | None = None) -> Sequence[tuple[Agent, int]]:
    """Agents with their open-ticket counts, by id."""
    stmt = (
        select(Agent, func.coalesce(AgentLoad.open_tickets, 0))
        .outerjoin(AgentLoad, AgentLoad.agent_id == Agent.id)
        .order_by(Agent.id)
    )
    if department_id is not None:
        stmt = stmt.where(Agent.department_id == department_id)
    return [(a, int(n)) for a, n in (await session.execute(stmt)).all()]


async def routes(session: AsyncSession) -> Sequence[CategoryRoute]:
    """The category map."""
    return (await session.scalars(select(CategoryRoute).order_by(CategoryRoute.category))).all()
