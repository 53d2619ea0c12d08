"""HTTP: the organisation, its departments and agents, and agents' presence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from ticketloop_routing.assignments import service as assignments
from ticketloop_routing.organisation import repository, service
from ticketloop_routing.organisation.domain import OrgSnapshot, Presence
from ticketloop_routing.organisation.schemas import AgentOut, DepartmentIn, Organisation, PresenceIn
from ticketloop_routing.unit import RoutingUowDep, SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import STORABLE, ShortText

router = APIRouter(prefix="/v1", tags=["organisation"])


_ETAG = {
    "ETag": {"description": "The version to send back as `If-Match` when changing it", "schema": {"type": "string"}}
}
AgentId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]


@router.get("/organisation", response_model=Organisation, responses={200: {"headers": _ETAG}})
async def get_organisation(session: SessionDep, _: CurrentStaff, response: Response) -> Organisation:
    """The whole organisation as configured, with its version in `ETag`."""
    org = await service.current(session)
    response.headers["ETag"] = service.etag(org)
    return org


@router.put(
    "/organisation",
    response_model=Organisation,
    responses={
        200: {"headers": _ETAG},
        409: {"description": "An agent removed by the change still owns open tickets (`agent_has_open_tickets`)"},
        412: {"description": "The organisation changed since the `If-Match` version was read"},
        428: {"description": "`If-Match` is missing"},
    },
)
async def put_organisation(
    body: Organisation,
    uow: RoutingUowDep,
    admin: CurrentAdmin,
    response: Response,
    if_match: Annotated[
        str | None, Header(max_length=100, description="The ETag of the version being replaced")
    ] = None,
) -> Organisation:
    """Replace the organisation: validated whole (every reference resolves, every routed
    category has an active agent), only over the version the caller read, and audited. Waiting
    tickets are given to whoever the change made room for (more capacity, new agents)."""
    await service.replace_guarded(uow.session, body, if_match=if_match, by=admin, at=uow.now())
    await assignments.fill_queues(uow)
    org = await service.current(uow.session)
    response.headers["ETag"] = service.etag(org)
    return org


@router.get("/departments", response_model=list[DepartmentIn])
async def list_departments(session: SessionDep, _: CurrentStaff) -> list[DepartmentIn]:
    """Every department."""
    return [DepartmentIn.model_validate(d) for d in await repository.departments(session)]


def _agent_out(row: repository.AgentRow, org: OrgSnapshot | None, default: int | None) -> AgentOut:
    agent = row.agent
    config = org.agents.get(agent.id) if org is not None else None
    capacity = org.capacity_of(config, default) if org is not None and config is not None else agent.capacity
    return AgentOut(
        id=agent.id,
        name=agent.name,
        department_id=agent.department_id,
        active=agent.active,
        presence=Presence(row.presence),
        presence_changed_at=row.presence_changed_at,
        open_tickets=row.open_tickets,
        capacity=capacity,
        skills=list(agent.skills or ()),
    )


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    _: CurrentStaff,
    department_id: Annotated[ShortText | None, Query()] = None,
) -> list[AgentOut]:
    """Agents with their presence, how many open tickets each owns and how many it may."""
    org = await service.snapshot(session, runtime.state)
    rows = await repository.agents(session, department_id=department_id)
    return [_agent_out(row, org, settings.default_capacity) for row in rows]


@router.put(
    "/agents/{agent_id}/presence",
    response_model=AgentOut,
    responses={
        403: {
            "description": "Only the agent itself, a supervisor of its department or an admin may "
            "(`presence_not_own`, `presence_other_department`, `staff_required`)"
        },
        404: {"description": "No such agent (`agent_not_found`)"},
    },
)
async def put_presence(agent_id: AgentId, body: PresenceIn, uow: RoutingUowDep, staff: CurrentStaff) -> AgentOut:
    """Set an agent's presence: only `available` agents are given tickets; an agent available again
    takes its department's best waiting tickets, and an away agent's untouched tickets go to
    others after `TICKETLOOP_ROUTING_AWAY_REASSIGN_MINUTES`."""
    row = await service.set_presence(uow.session, agent_id=agent_id, presence=body.presence, by=staff, at=uow.now())
    org = await service.snapshot(uow.session, uow.state)
    if org is not None and agent_id in org.agents:
        await assignments.presence_changed(uow, agent=org.agents[agent_id], presence=body.presence)
        [row] = await repository.agents(uow.session, agent_id=agent_id)
    return _agent_out(row, org, uow.settings.default_capacity)
