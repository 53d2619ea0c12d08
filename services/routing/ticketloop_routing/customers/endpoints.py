"""HTTP: dedicated account managers of customers (admins set them, staff read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ticketloop_routing.customers import service
from ticketloop_routing.customers.schemas import AccountManagerIn, AccountManagerOut, AccountManagerPage
from ticketloop_shared.api import IfMatchRequired, PutPreconditionDep, RuntimeDep, SessionDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import MAX_OFFSET, STORABLE

router = APIRouter(prefix="/v1/account-managers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]
_ETAG = {"ETag": {"description": "The version, to send back as `If-Match`", "schema": {"type": "string"}}}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"description": "The customer has no account manager (`account_manager_not_found`)"}
}
_PRECONDITIONS: dict[int | str, dict[str, object]] = {
    412: {
        "description": "Not at the `If-Match` version, or one exists under `If-None-Match: *` "
        "(`account_manager_changed`)"
    },
    428: {"description": "Neither `If-Match` nor (PUT) `If-None-Match: *` was sent (`if_match_required`)"},
}


@router.put(
    "/{customer_id}",
    response_model=AccountManagerOut,
    responses={
        200: {"headers": _ETAG},
        201: {"description": "Created", "model": AccountManagerOut, "headers": _ETAG},
        422: {"description": "Validation error, or `unknown_agent`: no such agent in the organisation"},
        **_PRECONDITIONS,
    },
)
async def put_account_manager(
    customer_id: CustomerId,
    body: AccountManagerIn,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: CurrentAdmin,
    expected: PutPreconditionDep,
    response: Response,
) -> AccountManagerOut:
    """Make an agent the customer's dedicated account manager: their high-value tickets go to it
    first whenever it is available and below capacity. A first one with `If-None-Match: *` (201),
    a change over the version read with `If-Match` (200); audited."""
    row, created = await service.set_manager(
        session, customer_id=customer_id, agent_id=body.agent_id, expected=expected, by=admin, at=runtime.clock.now()
    )
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{row.version}"'
    return AccountManagerOut.model_validate(row)


@router.get("/{customer_id}", response_model=AccountManagerOut, responses={200: {"headers": _ETAG}, **_NOT_FOUND})
async def get_account_manager(
    customer_id: CustomerId, session: SessionDep, admin: CurrentAdmin, response: Response
) -> AccountManagerOut:
    """The customer's account manager; its `ETag` is the version to send back as `If-Match`."""
    row = await service.get_manager(session, customer_id)
    response.headers["ETag"] = f'"{row.version}"'
    return AccountManagerOut.model_validate(row)


@router.delete("/{customer_id}", status_code=204, response_class=Response, responses={**_NOT_FOUND, **_PRECONDITIONS})
async def delete_account_manager(
    customer_id: CustomerId, session: SessionDep, admin: CurrentAdmin, if_match: IfMatchRequired
) -> Response:
    """Clear the customer's account manager, at the version read (`If-Match`); audited."""
    await service.clear_manager(session, customer_id=customer_id, version=if_match_version(if_match), by=admin)
    return Response(status_code=204)


@router.get("", response_model=AccountManagerPage)
async def list_account_managers(
    session: SessionDep,
    staff: CurrentStaff,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AccountManagerPage:
    """Customers' account managers by customer id, paginated: an agent or supervisor sees those
    of its own department's agents, an admin all."""
    rows, total = await service.page(session, by=staff, limit=limit, offset=offset)
    return AccountManagerPage(
        items=[AccountManagerOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )
