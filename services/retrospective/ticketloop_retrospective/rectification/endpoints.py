"""HTTP: staff follow rectification items; supervisors and admins open and work them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ticketloop_retrospective.rectification import repository, service
from ticketloop_retrospective.rectification.domain import ItemStatus
from ticketloop_retrospective.rectification.schemas import ItemChange, ItemCreate, ItemOut, ItemPage
from ticketloop_retrospective.unit import RetrospectiveUowDep, SettingsDep
from ticketloop_shared.api import IfMatchRequired, RuntimeDep, SessionDep, if_match_version
from ticketloop_shared.auth import CurrentStaff, Principal, Role, check_department, department_scope, require_staff
from ticketloop_shared.errors import Forbidden
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1/rectifications", tags=["rectification"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    403: {
        "description": "Only a supervisor or an admin works items (`supervisor_required`); another "
        "department's item (`not_your_department`)"
    },
    404: {"description": "No such item (`rectification_not_found`)"},
    409: {"description": "The item is closed (`rectification_closed`)"},
    412: {"description": "Changed since the `If-Match` version (`rectification_changed`)"},
    428: {"description": "`If-Match` is missing (`if_match_required`)"},
}


class SupervisorRequired(Forbidden):
    """Opening and working items is a supervisor's or an admin's job."""

    code = "supervisor_required"


async def require_supervisor(principal: Annotated[Principal, Depends(require_staff)]) -> Principal:
    """Dependency: a supervisor or an admin."""
    if principal.role not in (Role.SUPERVISOR, Role.ADMIN):
        raise SupervisorRequired("only a supervisor or an admin opens and works rectification items")
    return principal


CurrentSupervisor = Annotated[Principal, Depends(require_supervisor)]


@router.get("", response_model=ItemPage, responses=_errors)
async def list_items(
    session: SessionDep,
    staff: CurrentStaff,
    status: ItemStatus | None = None,
    category: Annotated[str | None, Query(max_length=40), STORABLE] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[uuid.UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> ItemPage:
    """Items, newest first, by status and category; an agent or supervisor lists the items its
    department owns (an item nobody owns yet is an admin's)."""
    items = await repository.page(
        session,
        status=status.value if status else None,
        category=category,
        limit=limit,
        after=after,
        owner_department=department_scope(staff),
    )
    return ItemPage(
        items=[service.item_out(i) for i in items], next_after=items[-1].id if len(items) == limit else None
    )


@router.get("/{item_id}", response_model=ItemOut, responses=_errors)
async def read_item(
    item_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    response: Response,
) -> ItemOut:
    """One item with its evidence and the category's weeks since: did it cool? (Its owning
    department's staff, or an admin.)"""
    out = await service.view(session, item_id=item_id, settings=settings, now=runtime.clock.now())
    check_department(staff, out.owner_department, what="item", unowned="not_your_department")
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.post("", status_code=201, response_model=ItemOut, responses=_errors)
async def open_item(body: ItemCreate, uow: RetrospectiveUowDep, by: CurrentSupervisor, response: Response) -> ItemOut:
    """Open an item by hand (`review.rectification_opened`)."""
    item = await service.open_by_hand(uow, body=body, by=by)
    response.headers["ETag"] = f'"{item.version}"'
    return service.item_out(item)


@router.patch("/{item_id}", response_model=ItemOut, responses=_errors)
async def change_item(
    item_id: uuid.UUID,
    body: ItemChange,
    uow: RetrospectiveUowDep,
    by: CurrentSupervisor,
    response: Response,
    if_match: IfMatchRequired,
) -> ItemOut:
    """Work an item to closed, over the version read (`If-Match`, required); closing announces
    `review.rectification_closed`. Audited."""
    item = await service.change(uow, item_id=item_id, body=body, version=if_match_version(if_match), by=by)
    response.headers["ETag"] = f'"{item.version}"'
    return service.item_out(item)
