"""HTTP: the organisation, its departments and agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ticketloop_routing.organisation import repository, service
from ticketloop_routing.organisation.schemas import AgentOut, DepartmentIn, Organisation
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import ShortText

router = APIRouter(prefix="/v1", tags=["organisation"])


@router.get("/organisation", response_model=Organisation)
async def get_organisation(session: SessionDep, _: CurrentStaff) -> Organisation:
    """The whole organisation as configured."""
    return await service.current(session)


@router.put("/organisation", response_model=Organisation)
async def put_organisation(body: Organisation, session: SessionDep, _: CurrentAdmin) -> Organisation:
    """Replace the organisation (validated whole: every reference must resolve)."""
    await service.replace(session, body)
    return await service.current(session)


@router.get("/departments", response_model=list[DepartmentIn])
async def list_departments(session: SessionDep, _: CurrentStaff) -> list[DepartmentIn]:
    """Every department."""
    return [DepartmentIn.model_validate(d) for d in await repository.departments(session)]


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(
    session: SessionDep,
    _: CurrentStaff,
    department_id: Annotated[ShortText | None, Query()] = None,
) -> list[AgentOut]:
    """Agents with how many open tickets each owns."""
    return [
        AgentOut(id=a.id, name=a.name, department_id=a.department_id, active=a.active, open_tickets=n)
        for a, n in await repository.agents(session, department_id=department_id)
    ]
