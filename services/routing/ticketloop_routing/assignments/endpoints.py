"""HTTP: who owns a ticket."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ticketloop_routing.assignments import repository
from ticketloop_routing.assignments.schemas import AssignmentOut
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.errors import NotFound

router = APIRouter(prefix="/v1/assignments", tags=["assignments"])


@router.get("/{ticket_id}", response_model=AssignmentOut, responses={404: {"description": "Unknown ticket"}})
async def get_assignment(ticket_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> AssignmentOut:
    """The department and agent owning a ticket."""
    assignment = await repository.get(session, ticket_id)
    if assignment is None:
        raise NotFound(f"routing has not seen ticket {ticket_id}", code="ticket_not_found")
    return AssignmentOut.model_validate(assignment)
