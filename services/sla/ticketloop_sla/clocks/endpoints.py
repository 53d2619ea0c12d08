"""HTTP: agents see a ticket's clocks; supervisors list the breaches."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.validation import MAX_OFFSET
from ticketloop_sla.clocks import service
from ticketloop_sla.clocks.schemas import BreachPage, TicketSlaOut

router = APIRouter(prefix="/v1", tags=["sla"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    404: {"description": "No clocks for this ticket (sla has not seen it)"},
    422: {"description": "Validation error"},
}


@router.get("/tickets/{ticket_id}/sla", response_model=TicketSlaOut, responses=_errors)
async def get_ticket_sla(
    ticket_id: uuid.UUID, _: CurrentStaff, session: SessionDep, runtime: RuntimeDep
) -> TicketSlaOut:
    """How each of the ticket's clocks stands and how long it has left."""
    return await service.read(session, ticket_id, now=runtime.clock.now())


@router.get("/breaches", response_model=BreachPage, responses=_errors)
async def list_breaches(
    _: CurrentStaff,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> BreachPage:
    """Missed deadlines, newest first, paginated."""
    return await service.breaches(session, limit=limit, offset=offset)
