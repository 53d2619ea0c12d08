"""HTTP: channels report problems and read them back; agents reply and resolve."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.idempotency.service import fingerprint, run_once
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository, service
from ticketloop_intake.tickets.domain import Status
from ticketloop_intake.tickets.schemas import (
    Category,
    Channel,
    ReplyCreate,
    ResolveRequest,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketSummary,
)
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentStaff

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request with the same key to get the first response back, never a second effect.",
    ),
]

_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    404: {"description": "Unknown ticket"},
    409: {"description": "Not allowed in the ticket's status, or Idempotency-Key reused"},
    413: {"description": "Body too large"},
    422: {"description": "Validation error"},
}


@router.post("", status_code=201, response_model=TicketOut, responses=_errors)
async def create_ticket(
    body: TicketCreate,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A channel reports a problem; the response reads back the ticket, its number and deadlines."""
    settings: IntakeSettings = request.app.state.settings

    async def create() -> TicketOut:
        ticket = await service.create_ticket(
            session,
            report=body,
            client=client,
            outbox=runtime.outbox,
            clock=runtime.clock,
            targets=settings.targets,
            number_prefix=settings.ticket_number_prefix,
        )
        return await service.to_out(session, ticket)

    return await run_once(
        session,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=201,
        action=create,
    )


@router.get("", response_model=TicketPage)
async def list_tickets(
    session: SessionDep,
    _: CurrentStaff,
    status: Status | None = None,
    channel: Channel | None = None,
    category: Category | None = None,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    assignee_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketPage:
    """Tickets, newest first, filtered and paginated."""
    rows, total = await repository.search(
        session,
        status=status,
        channel=channel,
        category=category,
        customer_id=customer_id,
        assignee_id=assignee_id,
        limit=limit,
        offset=offset,
    )
    items = [
        TicketSummary(
            id=t.id,
            number=t.number,
            status=Status(t.status),
            channel=Channel(t.channel),
            category=Category(t.category),
            urgency=t.urgency,
            subject=t.subject,
            customer_id=t.customer_id,
            assignee_id=t.assignee_id,
            created_at=t.created_at,
        )
        for t in rows
    ]
    return TicketPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{ticket_id}", response_model=TicketOut, responses=_errors)
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, _: CurrentStaff) -> TicketOut:
    """A ticket with its status, owner, deadlines and timeline."""
    return await service.read(session, ticket_id)


@router.post("/{ticket_id}/replies", status_code=201, response_model=TicketOut, responses=_errors)
async def reply(
    ticket_id: uuid.UUID,
    body: ReplyCreate,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    agent: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An agent answers the customer."""

    async def send() -> TicketOut:
        ticket = await service.reply(
            session, ticket_id=ticket_id, message=body, agent=agent, outbox=runtime.outbox, clock=runtime.clock
        )
        return await service.to_out(session, ticket)

    return await run_once(
        session,
        scope=f"agent:{agent.sub}",
        key=idempotency_key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=201,
        action=send,
    )


@router.post("/{ticket_id}/resolve", response_model=TicketOut, responses=_errors)
async def resolve(
    ticket_id: uuid.UUID,
    body: ResolveRequest,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    agent: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An agent marks the problem solved; the customer will be asked for feedback."""

    async def close() -> TicketOut:
        ticket = await service.resolve(
            session, ticket_id=ticket_id, request=body, agent=agent, outbox=runtime.outbox, clock=runtime.clock
        )
        return await service.to_out(session, ticket)

    return await run_once(
        session,
        scope=f"agent:{agent.sub}",
        key=idempotency_key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=200,
        action=close,
    )
