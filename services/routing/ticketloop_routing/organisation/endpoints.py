"""HTTP: the organisation, its departments and agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ticketloop_routing.organisation import repository, service
from ticketloop_routing.organisation.schemas import AgentOut, DepartmentIn, Organisation
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import ShortText

router = APIRouter(prefix="/v1", tags=["organisation"])


_ETAG = {
    "ETag": {"description": "The version to send back as `If-Match` when changing it", "schema": {"type": "string"}}
}


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
    session: SessionDep,
    admin: CurrentAdmin,
    response: Response,
    if_match: Annotated[
        str | None, Header(max_length=100, description="The ETag of the version being replaced")
    ] = None,
) -> Organisation:
    """Replace the organisation: validated whole (every reference resolves, every routed
    category has an active agent), only over the version the caller read, and audited."""
    await service.replace_guarded(session, body, if_match=if_match, by=admin)
    org = await service.current(session)
    response.headers["ETag"] = service.etag(org)
    return org


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
