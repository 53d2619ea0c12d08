"""HTTP: dedicated account managers of customers (admins set them, staff read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ticketloop_routing.customers import service
from ticketloop_routing.customers.schemas import AccountManagerIn, AccountManagerOut, AccountManagerPage
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import MAX_OFFSET, STORABLE

router = APIRouter(prefix="/v1/account-managers", tags=["customers"])

CustomerId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]


@router.put(
    "/{customer_id}",
    response_model=AccountManagerOut,
    responses={422: {"description": "Validation error, or `unknown_agent`: no such agent in the organisation"}},
)
async def put_account_manager(
    customer_id: CustomerId, body: AccountManagerIn, session: SessionDep, runtime: RuntimeDep, admin: CurrentAdmin
) -> AccountManagerOut:
    """Make an agent the customer's dedicated account manager: their high-value tickets go to it
    first whenever it is available and below capacity."""
    row = await service.set_manager(
        session, customer_id=customer_id, agent_id=body.agent_id, by=admin, at=runtime.clock.now()
    )
    return AccountManagerOut.model_validate(row)


@router.delete(
    "/{customer_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "The customer has no account manager (`account_manager_not_found`)"}},
)
async def delete_account_manager(customer_id: CustomerId, session: SessionDep, admin: CurrentAdmin) -> Response:
    """Clear the customer's account manager."""
    await service.clear_manager(session, customer_id=customer_id, by=admin)
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
