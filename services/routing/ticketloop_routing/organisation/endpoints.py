"""HTTP: the organisation, its departments and agents with their presence, as they stand. The writes
(`PUT /v1/organisation`, `PUT /v1/agents/{agent_id}/presence`) are `assignments.endpoints`', since what
they set off (queues filled, tickets given out) is assignments' rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ticketloop_routing.organisation import repository, service
from ticketloop_routing.organisation.schemas import ETAG_HEADER, AgentOut, DepartmentIn, MeOut, Organisation
from ticketloop_routing.unit import SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.validation import ShortText

router = APIRouter(prefix="/v1", tags=["organisation"])


@router.get("/organisation", response_model=Organisation, responses={200: {"headers": ETAG_HEADER}})
async def get_organisation(session: SessionDep, _: CurrentStaff, response: Response) -> Organisation:
    """The whole organisation as configured, with its version in `ETag`."""
    org = await service.current(session)
    response.headers["ETag"] = service.etag(org)
    return org


@router.get("/departments", response_model=list[DepartmentIn])
async def list_departments(session: SessionDep, _: CurrentStaff) -> list[DepartmentIn]:
    """Every department."""
    return [DepartmentIn.model_validate(d) for d in await repository.departments(session)]


@router.get(
    "/agents",
    response_model=list[AgentOut],
    responses={403: {"description": "Another department's agents (`not_your_department`)"}},
)
async def list_agents(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    department_id: Annotated[ShortText | None, Query()] = None,
) -> list[AgentOut]:
    """Agents with their presence, how many open tickets each owns and how many it may: an agent
    or supervisor sees its own department's (asking for another is a 403), an admin everyone."""
    department_id = service.scoped(staff, department_id, what="agents")
    return await service.agents_out(
        session, runtime.state, default_capacity=settings.default_capacity, department_id=department_id
    )


@router.get("/me", response_model=MeOut)
async def who_am_i(session: SessionDep, runtime: RuntimeDep, settings: SettingsDep, staff: CurrentStaff) -> MeOut:
    """Who the token belongs to, and their agent record (presence, capacity, open tickets) when
    routing knows them as an agent: what the workspace asks at sign-in and to check that a
    session is still valid (a revoked or expired token is a 401 here as everywhere)."""
    agent = await service.agents_out(
        session, runtime.state, default_capacity=settings.default_capacity, agent_id=staff.sub
    )
    names = await service.department_names(session) if staff.department is not None else {}
    return MeOut(
        sub=staff.sub,
        name=staff.name or (agent[0].name if agent else ""),
        role=staff.role.value,
        department_id=staff.department,
        department_name=names.get(staff.department) if staff.department is not None else None,
        agent=agent[0] if agent else None,
    )
