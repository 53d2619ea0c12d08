"""HTTP: channels report problems, add the customer's messages and read them back; staff work
the ticket through its lifecycle; the customer confirms or reopens with a no-login link."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.db import statements
from ticketloop_intake.idempotency.service import Claim, KeyTaken, fingerprint, json_response, replay, run_once
from ticketloop_intake.knowledge import service as knowledge
from ticketloop_intake.knowledge.schemas import SuggestionOut
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository, service
from ticketloop_intake.tickets.domain import SlaClocks, Status, check_access
from ticketloop_intake.tickets.lifecycle import custody
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.schemas import (
    AssigneeOut,
    CustomerLinkOut,
    CustomerOut,
    CustomerTicketOut,
    DeadlinesOut,
    FollowUpCreate,
    MessageCreate,
    NoteCreate,
    PlanCommit,
    ReopenRequest,
    ReplyCreate,
    ResolutionTimesOut,
    ResolveRequest,
    SlaClockOut,
    SlaOut,
    SolvedByArticle,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketSummary,
    TimelineEntryOut,
    UpdateCreate,
    WaitRequest,
)
from ticketloop_intake.tickets.service import TicketView
from ticketloop_shared.api import SessionDep, get_uow
from ticketloop_shared.auth import CurrentStaff, Principal, Role
from ticketloop_shared.errors import Conflict, Forbidden, NotFound
from ticketloop_shared.events import ClockKind, TicketOrigin
from ticketloop_shared.privacy import mask_contact
from ticketloop_shared.ratelimit import rate_limits
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_shared.validation import MAX_OFFSET, ShortText
from ticketloop_shared.vocabulary import Category, Channel

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
_staff_errors: dict[int | str, dict[str, object]] = {
    **_errors,
    403: {"description": "Not your department's ticket, or only its assignee or a supervisor may do this"},
}
# Timeline entries the channel (and so the customer) never sees.
INTERNAL_KINDS = frozenset({"note"})
IntakeUnit = UnitOfWork[IntakeSettings]


class _NoBody(BaseModel):
    """The fingerprint of a request that has no body."""


def render(view: TicketView, settings: IntakeSettings, *, now: datetime, for_channel: bool = False) -> TicketOut:
    """A ticket as read back to its channel and shown to agents (contact masked; the channel
    never sees internal notes)."""
    ticket, personal = view.ticket, view.personal
    link = service.link_for(settings, ticket, now)
    sla = service.sla_clocks(ticket)
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
        deadlines=_deadlines(sla),
        sla=_sla(sla),
        expected_resolution_at=ticket.expected_resolution_at,
        required_skills=list(ticket.required_skills or ()),
        resolution_times=ResolutionTimesOut(
            expected_by_customer=ticket.expected_resolution_at,
            committed=ticket.committed_resolution_at,
            committed_at=ticket.plan_committed_at,
            actual=ticket.resolved_at,
        ),
        created_at=ticket.created_at,
        origin=TicketOrigin(ticket.origin),
        origin_id=ticket.origin_id,
        linked_ticket_id=ticket.linked_ticket_id,
        first_response_at=ticket.first_response_at,
        last_update_at=ticket.last_update_at,
        waiting_since=ticket.waiting_since,
        resolved_at=ticket.resolved_at,
        self_service=bool(ticket.self_service),
        followed_up_at=ticket.followed_up_at,
        closed_at=ticket.closed_at,
        reopened_at=ticket.reopened_at,
        reopen_count=ticket.reopen_count or 0,
        customer_link=CustomerLinkOut(url=link[0], expires_at=link[1]) if link else None,
        repeat_contact=view.repeat_contact,
        suggestions=[
            SuggestionOut(article_id=x.article_id, title=x.title, snippet=x.snippet, rank=x.rank)
            for x in view.suggestions
        ],
        timeline=[
            TimelineEntryOut(id=e.id, at=e.at, kind=e.kind, actor=e.actor, body=personal.bodies.get(e.id))
            for e in view.timeline
            if not (for_channel and e.kind in INTERNAL_KINDS)
        ],
    )


def _deadlines(sla: SlaClocks | None) -> DeadlinesOut:
    if sla is None:
        return DeadlinesOut(acknowledgement_due=None, first_response_due=None, resolution_due=None)
    return DeadlinesOut(
        acknowledgement_due=sla.due(ClockKind.ACKNOWLEDGEMENT),
        first_response_due=sla.due(ClockKind.FIRST_RESPONSE),
        resolution_due=sla.due(ClockKind.RESOLUTION),
    )


def _sla(sla: SlaClocks | None) -> SlaOut | None:
    if sla is None:
        return None
    return SlaOut(
        policy_id=sla.policy_id,
        version=sla.version,
        clocks=[
            SlaClockOut(
                clock=c.clock,
                cycle=c.cycle,
                status=c.status,
                started_at=c.started_at,
                due_at=c.due_at,
                target_seconds=c.target_seconds,
                paused_seconds=c.paused_seconds,
                stopped_at=c.stopped_at,
                breached_at=c.breached_at,
            )
            for c in sla.clocks
        ],
    )


def _renderer(
    uow: UnitOfWork[IntakeSettings], *, for_channel: bool = False
) -> Callable[[uuid.UUID], Awaitable[TicketOut]]:
    async def current(ticket_id: uuid.UUID) -> TicketOut:
        view = await service.read(uow.session, ticket_id, uow.settings)
        return render(view, uow.settings, now=uow.now(), for_channel=for_channel)

    return current


async def _once(
    uow: UnitOfWork[IntakeSettings],
    request: Request,
    *,
    scope: str,
    key: str | None,
    body: BaseModel,
    status_code: int,
    action: Callable[[], Awaitable[Ticket]],
    for_channel: bool = False,
) -> Response:
    """Run a change at most once per Idempotency-Key and answer with the ticket as it now stands."""

    async def act() -> tuple[uuid.UUID, TicketOut]:
        ticket = await action()
        view = await service.view(uow.session, ticket, uow.settings)
        return ticket.id, render(view, uow.settings, now=uow.now(), for_channel=for_channel)

    return await run_once(
        uow.session,
        scope=scope,
        key=key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=status_code,
        action=act,
        render=_renderer(uow, for_channel=for_channel),
        now=uow.now(),
        ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
    )


@router.post(
    "",
    status_code=201,
    response_model=TicketOut,
    responses={
        200: {
            "model": TicketOut,
            "description": "A repeat contact: the report was added to the customer's existing ticket for the same "
            "problem (`repeat_contact` is true); send `new_ticket: true` to open a new one regardless",
        },
        **_errors,
    },
)
async def create_ticket(
    body: TicketCreate, request: Request, uow: IntakeUow, client: ChannelDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """A channel reports a problem; the response reads back the ticket and its number (its deadlines
    follow once sla publishes its clocks).
    The same problem reported again (same customer, category and subject, while open or within
    the repeat window after resolution) is added to the existing ticket: 200 with its number."""
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
                render=_renderer(uow, for_channel=True),
                now=claim.created_at,
                ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
            )
            if replayed is not None:
                return replayed
            continue
        if not view.repeat_contact:
            found = await knowledge.suggest(
                uow.session, category=body.category.value, text=f"{body.subject} {body.description}"
            )
            view = replace(view, suggestions=tuple(found))
        status_code = service.REPEAT_STATUS if view.repeat_contact else 201
        return json_response(render(view, uow.settings, now=uow.now(), for_channel=True), status_code)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")


@router.get("", response_model=TicketPage, responses={403: _staff_errors[403]})
async def list_tickets(
    session: SessionDep,
    request: Request,
    staff: CurrentStaff,
    status: Status | None = None,
    channel: Channel | None = None,
    category: Category | None = None,
    customer_id: Annotated[ShortText | None, Query()] = None,
    assignee_id: Annotated[ShortText | None, Query()] = None,
    department_id: Annotated[ShortText | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TicketPage:
    """Tickets, newest first, filtered and paginated; an agent or supervisor sees its own
    department's only (asking for another department is a 403)."""
    if staff.role is not Role.ADMIN:
        if department_id is not None and department_id != staff.department:
            raise Forbidden("you may list only your own department's tickets", code="not_your_department")
        department_id = staff.department
    rows, total = await repository.search(
        session,
        status=status,
        channel=channel,
        category=category,
        customer_id=customer_id,
        assignee_id=assignee_id,
        department_id=department_id,
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
            department_id=t.department_id,
            assignee_id=t.assignee_id,
            created_at=t.created_at,
        )
        for t, subject in zip(rows, subjects, strict=True)
    ]
    return TicketPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{ticket_id}", response_model=TicketOut, responses=_staff_errors)
async def get_ticket(ticket_id: uuid.UUID, uow: IntakeUow, staff: CurrentStaff) -> TicketOut:
    """A ticket with its status, owner, sla's deadlines and clocks, and timeline (its department's
    staff, or an admin)."""
    view = await service.read(uow.session, ticket_id, uow.settings)
    check_access(staff, custody(view.ticket))
    return render(view, uow.settings, now=uow.now())


async def _as_staff(
    uow: IntakeUnit,
    request: Request,
    staff: Principal,
    key: str | None,
    body: BaseModel,
    status_code: int,
    action: Callable[[], Awaitable[Ticket]],
) -> Response:
    return await _once(
        uow, request, scope=f"agent:{staff.sub}", key=key, body=body, status_code=status_code, action=action
    )


@router.post("/{ticket_id}/replies", status_code=201, response_model=TicketOut, responses=_staff_errors)
async def reply(
    ticket_id: uuid.UUID,
    body: ReplyCreate,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The owner (or a supervisor) answers the customer; the first reply stops the first-response clock."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        201,
        lambda: service.reply(uow, ticket_id=ticket_id, message=body, agent=staff),
    )


@router.post("/{ticket_id}/notes", status_code=201, response_model=TicketOut, responses=_staff_errors)
async def add_note(
    ticket_id: uuid.UUID,
    body: NoteCreate,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """An internal note for the department's staff; never shown to the channel or the customer."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        201,
        lambda: service.add_note(uow, ticket_id=ticket_id, note=body, staff=staff),
    )


@router.post("/{ticket_id}/plan", status_code=200, response_model=TicketOut, responses=_staff_errors)
async def commit_plan(
    ticket_id: uuid.UUID,
    body: PlanCommit,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The owner commits a plan and a resolution time, both told to the customer (SPEC: within 2 hours)."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        200,
        lambda: service.commit_plan(uow, ticket_id=ticket_id, plan=body, agent=staff),
    )


@router.post("/{ticket_id}/updates", status_code=201, response_model=TicketOut, responses=_staff_errors)
async def send_update(
    ticket_id: uuid.UUID,
    body: UpdateCreate,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A progress update to the customer (at least every 24 hours while open)."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        201,
        lambda: service.send_update(uow, ticket_id=ticket_id, update=body, agent=staff),
    )


@router.post("/{ticket_id}/waiting", status_code=200, response_model=TicketOut, responses=_staff_errors)
async def wait_on_customer(
    ticket_id: uuid.UUID,
    body: WaitRequest,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Ask the customer for something; the ticket waits on them until they write."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        200,
        lambda: service.wait_on_customer(uow, ticket_id=ticket_id, request=body, agent=staff),
    )


@router.post("/{ticket_id}/resolve", status_code=200, response_model=TicketOut, responses=_staff_errors)
async def resolve(
    ticket_id: uuid.UUID,
    body: ResolveRequest,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The owner marks the problem solved; the answer carries the customer's confirm-or-reopen link."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        200,
        lambda: service.resolve(uow, ticket_id=ticket_id, request=body, agent=staff),
    )


@router.post("/{ticket_id}/follow-up", status_code=200, response_model=TicketOut, responses=_staff_errors)
async def follow_up(
    ticket_id: uuid.UUID,
    body: FollowUpCreate,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Record the post-resolution follow-up with the customer (SPEC: within 2 hours)."""
    return await _as_staff(
        uow,
        request,
        staff,
        idempotency_key,
        body,
        200,
        lambda: service.follow_up(uow, ticket_id=ticket_id, visit=body, agent=staff),
    )


@router.post("/{ticket_id}/solved-by-article", response_model=TicketOut, responses=_errors)
async def solved_by_article(
    ticket_id: uuid.UUID,
    body: SolvedByArticle,
    request: Request,
    uow: IntakeUow,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer's question was answered by a suggested article: the channel reports it and
    the ticket is resolved as self-service (no agent). Otherwise nothing is needed: the ticket is
    with a person already."""
    return await _once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=lambda: service.solve_by_article(uow, ticket_id=ticket_id, article_id=body.article_id, client=client),
        for_channel=True,
    )


@router.patch("/{ticket_id}", response_model=TicketOut, responses=_staff_errors)
async def change_ticket(
    ticket_id: uuid.UUID,
    body: TicketPatch,
    request: Request,
    uow: IntakeUow,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the ticket's urgency or category (the owner or a supervisor); routing re-scores it
    or moves it to the department owning the new category."""
    return await _once(
        uow,
        request,
        scope=f"agent:{staff.sub}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=lambda: service.change(uow, ticket_id=ticket_id, patch=body, staff=staff),
    )


@router.post("/{ticket_id}/messages", status_code=201, response_model=TicketOut, responses=_errors)
async def add_message(
    ticket_id: uuid.UUID,
    body: MessageCreate,
    request: Request,
    uow: IntakeUow,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer writes again through the channel that reported the problem: a ticket waiting
    on them goes back in progress, a resolved one reopens (within the reopen window)."""
    return await _once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=201,
        action=lambda: service.message_from_channel(uow, ticket_id=ticket_id, message=body, client=client),
        for_channel=True,
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
async def read_own_ticket(ticket_id: uuid.UUID, uow: IntakeUow, client: ChannelDep) -> TicketOut:
    """One ticket this channel client created, as it now stands (status, owner, deadlines,
    timeline without internal notes; contact masked). Another client's ticket is
    `ticket_not_found`."""
    view = await service.read(uow.session, ticket_id, uow.settings, channel_client_id=client.id)
    return render(view, uow.settings, now=uow.now(), for_channel=True)


@channel_router.post("/{ticket_id}/confirm", response_model=TicketOut, responses=_errors)
async def confirm_own_ticket(
    ticket_id: uuid.UUID,
    request: Request,
    uow: IntakeUow,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer confirms the solution through their channel: the ticket is closed."""

    async def act() -> Ticket:
        ticket = await service.for_channel(uow, ticket_id, client)
        return await service.confirm(uow, ticket=ticket, actor=f"channel:{client.name}")

    return await _once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=_NoBody(),
        status_code=200,
        action=act,
        for_channel=True,
    )


@channel_router.post("/{ticket_id}/reopen", response_model=TicketOut, responses=_errors)
async def reopen_own_ticket(
    ticket_id: uuid.UUID,
    body: ReopenRequest,
    request: Request,
    uow: IntakeUow,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer says, through their channel, that the problem is not solved (within the
    reopen window)."""

    async def act() -> Ticket:
        ticket = await service.for_channel(uow, ticket_id, client)
        return await service.reopen(uow, ticket=ticket, request=body, actor=f"channel:{client.name}")

    return await _once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=act,
        for_channel=True,
    )


customer_router = APIRouter(prefix="/v1/customer-links", tags=["customer links (no login)"])
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


async def _linked(uow: UnitOfWork[IntakeSettings], request: Request, token: str) -> Ticket:
    """The ticket a link names; a wrong token counts against the address like a bad credential."""
    limits = rate_limits(request)
    if limits is not None:
        limits.refuse_blocked_address(request)
    try:
        return await service.for_link(uow, token)
    except NotFound:
        if limits is not None:
            limits.failed_credentials(request)
        raise


@customer_router.get("/{token}", response_model=CustomerTicketOut, responses=_link_errors)
async def read_by_link(token: LinkToken, request: Request, uow: IntakeUow) -> CustomerTicketOut:
    """What the customer's link shows: the ticket's number and whether it can be confirmed or reopened."""
    return _customer_view(await _linked(uow, request, token), uow.settings, uow.now())


@customer_router.post("/{token}/confirm", response_model=CustomerTicketOut, responses=_link_errors)
async def confirm_by_link(token: LinkToken, request: Request, uow: IntakeUow) -> CustomerTicketOut:
    """The customer confirms the solution: the ticket is closed (confirming again changes nothing)."""
    ticket = await _linked(uow, request, token)
    if ticket.status != Status.CLOSED.value:
        await service.confirm(uow, ticket=ticket, actor="customer")
    return _customer_view(ticket, uow.settings, uow.now())


@customer_router.post("/{token}/reopen", response_model=CustomerTicketOut, responses=_link_errors)
async def reopen_by_link(token: LinkToken, body: ReopenRequest, request: Request, uow: IntakeUow) -> CustomerTicketOut:
    """The customer says the problem is not solved: the ticket reopens (within the reopen window)."""
    ticket = await _linked(uow, request, token)
    await service.reopen(uow, ticket=ticket, request=body, actor="customer")
    return _customer_view(ticket, uow.settings, uow.now())
