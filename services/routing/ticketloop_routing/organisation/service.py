"""Rules about the organisation: it is loaded and replaced whole, and always consistent."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.organisation import repository
from ticketloop_routing.organisation.models import Agent, CategoryRoute, Department
from ticketloop_routing.organisation.schemas import AgentIn, DepartmentIn, Organisation


def read_file(path: Path) -> Organisation:
    """Parse and validate an organisation TOML file (a bad file stops the service at start)."""
    try:
        return Organisation.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RuntimeError(f"cannot load organisation file {path}: {exc}") from exc


async def replace(session: AsyncSession, org: Organisation) -> None:
    """Make `org` the organisation."""
    await repository.replace(
        session,
        departments=[
            Department(id=d.id, name=d.name, is_fallback=d.id == org.fallback_department) for d in org.departments
        ],
        agents=[Agent(id=a.id, name=a.name, department_id=a.department, active=a.active) for a in org.agents],
        routes=[CategoryRoute(category=c, department_id=d) for c, d in org.categories.items()],
    )


async def load_if_empty(session: AsyncSession, path: Path) -> bool:
    """Seed from the file on first start; later starts keep what admins changed."""
    if await repository.has_departments(session):
        return False
    await replace(session, read_file(path))
    return True


async def current(session: AsyncSession) -> Organisation:
    """The organisation as stored, in the shape it is configured in."""
    departments = await repository.departments(session)
    fallback = next((d.id for d in departments if d.is_fallback), "")
    return Organisation.model_construct(
        fallback_department=fallback,
        departments=[DepartmentIn.model_validate(d) for d in departments],
        agents=[
            AgentIn(id=a.id, name=a.name, department=a.department_id, active=a.active)
            for a, _ in await repository.agents(session)
        ],
        categories={r.category: r.department_id for r in await repository.routes(session)},
    )
