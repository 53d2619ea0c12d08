"""HTTP: a channel client reads back the tickets it created, and confirms or reopens one on
the customer's behalf."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.tickets import repository, service
from ticketloop_intake.tickets.domain import Status
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.rendering import (
    ERRORS,
    IdempotencyKey,
    NoBody,
    once,
    page,
    render,
)
from ticketloop_intake.tickets.schemas import (
    ReopenRequest,
    TicketOut,
    TicketPage,
)
from ticketloop_intake.unit import IntakeUowDep, SettingsDep
from ticketloop_shared.api import SessionDep
from ticketloop_shared.validation import MAX_OFFSET

router = APIRouter(prefix="/v1/channel/tickets", tags=["channel read-back"])


@router.get("", response_model=TicketPage)
async def list_own_tickets(
    session: SessionDep,
    settings: SettingsDep,
    client: ChannelDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TicketPage:
    """The tickets this channel client created, newest first (contact masked)."""
    rows, total = await repository.search(
        session,
        status=status,
        channel=None,
        category=None,
        assignee_id=None,
        limit=limit,
        offset=offset,
        channel_client_id=client.id,
    )
    return await page(session, settings, rows, total, limit=limit, offset=offset, for_channel=True)


@router.get("/{ticket_id}", response_model=TicketOut, responses=ERRORS)
async def read_own_ticket(ticket_id: uuid.UUID, uow: IntakeUowDep, client: ChannelDep) -> TicketOut:
    """One ticket this channel client created, as it now stands (status, owner, deadlines,
    timeline without internal notes; contact masked). Another client's ticket is
    `ticket_not_found`."""
    view = await service.read(uow.session, ticket_id, uow.settings, channel_client_id=client.id)
    if view.ticket.acknowledged_at is None and view.ticket.acknowledged_via is None:
        # No acknowledgement delivery was queued for this ticket (the channel has no such
        # subscription): its first read-back is the acknowledgement reaching it.
        await service.acknowledge(uow, ticket_id, at=uow.now(), via="read_back")
    return render(view, uow.settings, now=uow.now(), for_channel=True)


@router.post("/{ticket_id}/confirm", response_model=TicketOut, responses=ERRORS)
async def confirm_own_ticket(
    ticket_id: uuid.UUID,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer confirms the solution through their channel: the ticket is closed."""

    async def act() -> Ticket:
        ticket = await service.for_channel(uow, ticket_id, client)
        return await service.confirm(uow, ticket=ticket, actor=f"channel:{client.name}")

    return await once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=NoBody(),
        status_code=200,
        action=act,
        for_channel=True,
    )


@router.post("/{ticket_id}/reopen", response_model=TicketOut, responses=ERRORS)
async def reopen_own_ticket(
    ticket_id: uuid.UUID,
    body: ReopenRequest,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer says, through their channel, that the problem is not solved (within the
    reopen window)."""

    async def act() -> Ticket:
        ticket = await service.for_channel(uow, ticket_id, client)
        return await service.reopen(uow, ticket=ticket, request=body, actor=f"channel:{client.name}")

    return await once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=act,
        for_channel=True,
    )
