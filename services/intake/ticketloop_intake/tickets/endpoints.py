"""HTTP: channels report problems and read them back; agents reply and resolve."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.customers.service import statements
from ticketloop_intake.idempotency.service import fingerprint, json_response, replay, run_once
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository, service
from ticketloop_intake.tickets.domain import Status
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.repository import Claim, KeyTaken
from ticketloop_intake.tickets.schemas import (
    AssigneeOut,
    Category,
    Channel,
    CustomerOut,
    DeadlinesOut,
    ReplyCreate,
    ResolveRequest,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketSummary,
    TimelineEntryOut,
)
from ticketloop_intake.tickets.service import TicketView
from ticketloop_shared.api import SessionDep, get_uow
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.errors import Conflict
from ticketloop_shared.privacy import mask_contact
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_shared.validation import MAX_OFFSET, ShortText

IntakeUow = Annotated[UnitOfWork[IntakeSettings], Depends(get_uow, scope="function")]

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


def render(view: TicketView) -> TicketOut:
    """A ticket as read back to its channel and shown to agents (contact masked)."""
    ticket, personal = view.ticket, view.personal
    assignee = None
    if ticket.assignee_id and ticket.assigned_at:
        assignee = AssigneeOut(
            agent_id=ticket.assignee_id,
            agent_name=ticket.assignee_name or "",
            department_id=ticket.department_id or "",
            department_name=ticket.department_name or "",
            assigned_at=ticket.assigned_at,
        )
    return TicketOut(
        id=ticket.id,
        number=ticket.number,
        status=Status(ticket.status),
        channel=Channel(ticket.channel),
        category=Category(ticket.category),
        need=ticket.need,
        urgency=ticket.urgency,
        subject=personal.subject,
        description=personal.description,
        customer=CustomerOut(
            id=ticket.customer_id,
            name=personal.name,
            contact_masked=mask_contact(personal.contact),
            customer_since=ticket.customer_since,
            annual_spend=ticket.customer_annual_spend,
            preferred_channel=ticket.customer_preferred_channel,
        ),
        assignee=assignee,
        deadlines=DeadlinesOut(
            acknowledgement_due=ticket.acknowledgement_due,
            first_response_due=ticket.first_response_due,
            resolution_due=ticket.resolution_due,
        ),
        expected_resolution_at=ticket.expected_resolution_at,
        created_at=ticket.created_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        timeline=[
            TimelineEntryOut(id=e.id, at=e.at, kind=e.kind, actor=e.actor, body=personal.bodies.get(e.id))
            for e in view.timeline
        ],
    )


def _renderer(session: AsyncSession, settings: IntakeSettings) -> Callable[[uuid.UUID], Awaitable[TicketOut]]:
    async def current(ticket_id: uuid.UUID) -> TicketOut:
        return render(await service.read(session, ticket_id, settings))

    return current


async def _once(
    uow: UnitOfWork[IntakeSettings],
    request: Request,
    *,
    scope: str,
    key: str | None,
    body: TicketCreate | ReplyCreate | ResolveRequest,
    status_code: int,
    action: Callable[[], Awaitable[TicketView]],
) -> Response:
    async def act() -> tuple[uuid.UUID, TicketOut]:
        view = await action()
        return view.ticket.id, render(view)

    return await run_once(
        uow.session,
        scope=scope,
        key=key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=status_code,
        action=act,
        render=_renderer(uow.session, uow.settings),
        now=uow.now(),
        ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
    )


@router.post("", status_code=201, response_model=TicketOut, responses=_errors)
async def create_ticket(
    body: TicketCreate, request: Request, uow: IntakeUow, client: ChannelDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """A channel reports a problem; the response reads back the ticket, its number and deadlines."""
    claim = None
    if idempotency_key is not None:
        request_hash = fingerprint("POST", request.url.path, body)
        claim = Claim(f"channel:{client.id}", idempotency_key, request_hash, 201, uow.now())
    for _ in range(3):  # a key whose record expired is used afresh; racing retries replay
        try:
            view = await service.create_ticket(uow, report=body, client=client, claim=claim)
        except KeyTaken:
            assert claim is not None
            replayed = await replay(
                uow.session,
                statements(uow),
                scope=claim.scope,
                key=claim.key,
                request_hash=claim.request_hash,
                render=_renderer(uow.session, uow.settings),
                now=claim.created_at,
                ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
            )
            if replayed is not None:
                return replayed
            continue
        return json_response(render(view), 201)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")


@router.get("", response_model=TicketPage)
async def list_tickets(
    session: SessionDep,
    request: Request,
    _: CurrentStaff,
    status: Status | None = None,
    channel: Channel | None = None,
    category: Category | None = None,
    customer_id: Annotated[ShortText | None, Query()] = None,
    assignee_id: Annotated[ShortText | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
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
    return await _page(session, request.app.state.settings, rows, total, limit=limit, offset=offset)


async def _page(
    session: AsyncSession, settings: IntakeSettings, rows: Sequence[Ticket], total: int, *, limit: int, offset: int
) -> TicketPage:
    subjects = await service.subjects(session, rows, settings)
    items = [
        TicketSummary(
            id=t.id,
            number=t.number,
            status=Status(t.status),
            channel=Channel(t.channel),
            category=Category(t.category),
            urgency=t.urgency,
            subject=subject,
            customer_id=t.customer_id,
            assignee_id=t.assignee_id,
            created_at=t.created_at,
        )
        for t, subject in zip(rows, subjects, strict=True)
    ]
    return TicketPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{ticket_id}", response_model=TicketOut, responses=_errors)
async def get_ticket(ticket_id: uuid.UUID, session: SessionDep, request: Request, _: CurrentStaff) -> TicketOut:
    """A ticket with its status, owner, deadlines and timeline."""
    return render(await service.read(session, ticket_id, request.app.state.settings))


@router.post("/{ticket_id}/replies", status_code=201, response_model=TicketOut, responses=_errors)
async def reply(
    ticket_id: uuid.UUID,
    body: ReplyCreate,
    request: Request,
    uow: IntakeUow,
    agent: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """An agent answers the customer."""

    async def send() -> TicketView:
        ticket = await service.reply(uow, ticket_id=ticket_id, message=body, agent=agent)
        return await service.view(uow.session, ticket, uow.settings)

    return await _once(
        uow, request, scope=f"agent:{agent.sub}", key=idempotency_key, body=body, status_code=201, action=send
    )


@router.post("/{ticket_id}/resolve", response_model=TicketOut, responses=_errors)
async def resolve(
    ticket_id: uuid.UUID,
    body: ResolveRequest,
    request: Request,
    uow: IntakeUow,
    agent: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """An agent marks the problem solved; the customer will be asked for feedback."""

    async def close() -> TicketView:
        ticket = await service.resolve(uow, ticket_id=ticket_id, request=body, agent=agent)
        return await service.view(uow.session, ticket, uow.settings)

    return await _once(
        uow, request, scope=f"agent:{agent.sub}", key=idempotency_key, body=body, status_code=200, action=close
    )


channel_router = APIRouter(prefix="/v1/channel/tickets", tags=["channel read-back"])


@channel_router.get("", response_model=TicketPage)
async def list_own_tickets(
    session: SessionDep,
    request: Request,
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
        customer_id=None,
        assignee_id=None,
        limit=limit,
        offset=offset,
        channel_client_id=client.id,
    )
    return await _page(session, request.app.state.settings, rows, total, limit=limit, offset=offset)


@channel_router.get("/{ticket_id}", response_model=TicketOut, responses=_errors)
async def read_own_ticket(ticket_id: uuid.UUID, session: SessionDep, request: Request, client: ChannelDep) -> TicketOut:
    """One ticket this channel client created, as it now stands (status, owner, deadlines,
    timeline; contact masked). Another client's ticket is `ticket_not_found`."""
    return render(await service.read(session, ticket_id, request.app.state.settings, channel_client_id=client.id))
