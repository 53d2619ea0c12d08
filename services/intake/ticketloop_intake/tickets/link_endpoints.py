"""HTTP: the customer confirms or reopens a resolved ticket with the no-login link its
resolution carries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service
from ticketloop_intake.tickets.domain import Status
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.schemas import (
    CustomerTicketOut,
    ReopenRequest,
)
from ticketloop_intake.unit import IntakeUnit, IntakeUowDep
from ticketloop_shared.errors import NotFound
from ticketloop_shared.ratelimit import presented_key, rate_limits

router = APIRouter(prefix="/v1/customer-links", tags=["customer links (no login)"])
_link_errors: dict[int | str, dict[str, object]] = {
    404: {"description": "No such link"},
    409: {"description": "Not allowed in the ticket's status, or past the reopen window"},
    410: {"description": "The link expired, or a newer resolution replaced it"},
    413: {"description": "Body too large"},
    422: {"description": "Validation error"},
    429: {"description": "Too many wrong links from this address"},
}
LinkToken = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def _customer_view(ticket: Ticket, settings: IntakeSettings, now: datetime) -> CustomerTicketOut:
    assert ticket.resolved_at is not None
    expires = ticket.resolved_at + timedelta(days=settings.reopen_window_days)
    status = Status(ticket.status)
    return CustomerTicketOut(
        number=ticket.number,
        status=status,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        can_confirm=status is Status.RESOLVED,
        can_reopen=status in (Status.RESOLVED, Status.CLOSED) and now <= expires,
        expires_at=expires,
    )


async def _linked(uow: IntakeUnit, request: Request, token: str) -> Ticket:
    """The ticket a link names; a wrong token counts against the address (and itself) like a bad
    credential, a 429 past the limit."""
    try:
        return await service.for_link(uow, token)
    except NotFound:
        limits = rate_limits(request)
        if limits is not None:
            limits.failed_credentials(request, presented_key("link", token))
        raise


@router.get("/{token}", response_model=CustomerTicketOut, responses=_link_errors)
async def read_by_link(token: LinkToken, request: Request, uow: IntakeUowDep) -> CustomerTicketOut:
    """What the customer's link shows: the ticket's number and whether it can be confirmed or reopened."""
    return _customer_view(await _linked(uow, request, token), uow.settings, uow.now())


@router.post("/{token}/confirm", response_model=CustomerTicketOut, responses=_link_errors)
async def confirm_by_link(token: LinkToken, request: Request, uow: IntakeUowDep) -> CustomerTicketOut:
    """The customer confirms the solution: the ticket is closed (confirming again changes nothing)."""
    ticket = await _linked(uow, request, token)
    if ticket.status != Status.CLOSED.value:
        await service.confirm(uow, ticket=ticket, actor="customer")
    return _customer_view(ticket, uow.settings, uow.now())


@router.post("/{token}/reopen", response_model=CustomerTicketOut, responses=_link_errors)
async def reopen_by_link(
    token: LinkToken, body: ReopenRequest, request: Request, uow: IntakeUowDep
) -> CustomerTicketOut:
    """The customer says the problem is not solved: the ticket reopens (within the reopen window)."""
    ticket = await _linked(uow, request, token)
    await service.reopen(uow, ticket=ticket, request=body, actor="customer")
    return _customer_view(ticket, uow.settings, uow.now())
