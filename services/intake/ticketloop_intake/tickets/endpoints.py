"""HTTP: channels report problems and add the customer's messages; staff work the ticket through
its lifecycle. The channel's read-back is `channel_endpoints.py`, the customer's no-login link
`link_endpoints.py`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from ticketloop_intake.channels.deps import ChannelDep
from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers.service import customer_ids_for
from ticketloop_intake.db import statements
from ticketloop_intake.idempotency.service import Claim, KeyTaken, fingerprint, json_response, replay
from ticketloop_intake.knowledge import service as knowledge
from ticketloop_intake.orders import service as orders
from ticketloop_intake.orders.domain import status_sentence
from ticketloop_intake.orders.schemas import OrderAnswerOut
from ticketloop_intake.tickets import repository, service
from ticketloop_intake.tickets.domain import Status, WorkOrder, check_access, etag
from ticketloop_intake.tickets.lifecycle import custody
from ticketloop_intake.tickets.models import Ticket
from ticketloop_intake.tickets.rendering import (
    ERRORS,
    STAFF_ERRORS,
    IdempotencyKey,
    once,
    page,
    render,
)
from ticketloop_intake.tickets.schemas import (
    FollowUpCreate,
    MessageCreate,
    NoteCreate,
    PlanCommit,
    ReplyCreate,
    ResolveRequest,
    SolvedByArticle,
    TicketCreate,
    TicketOut,
    TicketPage,
    TicketPatch,
    UpdateCreate,
    WaitRequest,
)
from ticketloop_intake.tickets.search_index import query_tokens
from ticketloop_intake.unit import IntakeUnit, IntakeUowDep, SettingsDep
from ticketloop_shared.api import IfMatchRequired, SessionDep
from ticketloop_shared.auth import CurrentStaff, Principal, Role
from ticketloop_shared.errors import Conflict, Forbidden, Unprocessable
from ticketloop_shared.events import TicketOrigin
from ticketloop_shared.validation import MAX_OFFSET, ShortText
from ticketloop_shared.vocabulary import Category, Channel

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
_ETAG = {
    "ETag": {
        "description": "The version of the ticket's urgency and category, to send back as `If-Match`",
        "schema": {"type": "string"},
    }
}


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
        **ERRORS,
    },
)
async def create_ticket(
    body: TicketCreate, request: Request, uow: IntakeUowDep, client: ChannelDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """A channel reports a problem; the response reads back the ticket and its number (its deadlines
    follow once sla publishes its clocks).
    The same problem reported again (same customer on any of their channels, same category, the
    same or a similar subject, while open or within the repeat window after resolution) is added
    to the existing ticket: 200 with its number, also when two such reports arrive at once."""
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
                render=_replayed(uow, client=client, report=body),
                now=claim.created_at,
                ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
            )
            if replayed is not None:
                return replayed
            continue
        answer = None
        if not view.repeat_contact:
            text = f"{body.subject} {body.description}"
            found = await knowledge.suggest(uow.session, category=body.category.value, text=text)
            view = replace(view, suggestions=tuple(found))
            answer = await orders.answer_order_status(
                uow.session,
                uow.settings,
                customer=body.customer.id,
                category=body.category.value,
                need=body.need.value,
                text=text,
            )
        status_code = service.REPEAT_STATUS if view.repeat_contact else 201
        out = render(view, uow.settings, now=uow.now(), for_channel=True)
        if answer is not None:
            out.order_status = OrderAnswerOut(
                order_id=answer.order_id,
                status=answer.status,
                ordered_at=answer.ordered_at,
                updated_at=answer.updated_at,
                text=status_sentence(answer),
            )
        return json_response(out, status_code)
    raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")


def _replayed(
    uow: IntakeUnit, *, client: ChannelClientView, report: TicketCreate
) -> Callable[[uuid.UUID, int], Awaitable[TicketOut]]:
    """A report's first answer again: the ticket as it now stands, still a repeat contact (and
    shown as to the channel that reported it) when the first answer was one."""

    async def current(ticket_id: uuid.UUID, status_code: int) -> TicketOut:
        found = await service.read(uow.session, ticket_id, uow.settings)
        if status_code == service.REPEAT_STATUS:
            found = service.as_seen_by(found, client=client, report=report)
        return render(found, uow.settings, now=uow.now(), for_channel=True)

    return current


@router.get("", response_model=TicketPage, responses={403: STAFF_ERRORS[403], 422: ERRORS[422]})
async def list_tickets(
    session: SessionDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    status: Status | None = None,
    channel: Channel | None = None,
    category: Category | None = None,
    customer_id: Annotated[
        ShortText | None, Query(description="The customer's pseudonymous id, or the channel's own reference for them.")
    ] = None,
    assignee_id: Annotated[
        ShortText | None, Query(description="An agent's id, or `me` for the caller's own tickets.")
    ] = None,
    department_id: Annotated[ShortText | None, Query()] = None,
    unassigned: Annotated[bool, Query(description="Only tickets nobody owns yet (waiting in a queue).")] = False,
    origin: Annotated[
        TicketOrigin | None, Query(description="Why the ticket exists: `care` lists the care tasks.")
    ] = None,
    number: Annotated[ShortText | None, Query(max_length=32, description="Exactly this ticket number.")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="Words of the subject or description; a ticket must contain every one (whole words, any "
            "case or accents; Chinese and Japanese by character pairs).",
        ),
    ] = None,
    sort: Annotated[
        WorkOrder,
        Query(
            description="`newest` first; `priority`: highest priority score, then earliest sla due instant, then "
            "oldest; `due`: earliest due instant, then highest score, then oldest."
        ),
    ] = WorkOrder.NEWEST,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TicketPage:
    """Tickets, filtered, ordered and paginated; an agent or supervisor sees its own
    department's only (asking for another department is a 403)."""
    if staff.role is not Role.ADMIN:
        if department_id is not None and department_id != staff.department:
            raise Forbidden("you may list only your own department's tickets", code="not_your_department")
        department_id = staff.department
    words: list[bytes] = []
    if q is not None:
        words = query_tokens(settings.search_key, q)
        if not words:
            raise Unprocessable(
                "the search has no word to look for (only very common or one-letter words)", code="no_search_words"
            )
    rows, total = await repository.search(
        session,
        status=status,
        channel=channel,
        category=category,
        customer_ids=customer_ids_for(settings, customer_id) if customer_id is not None else (),
        assignee_id=staff.sub if assignee_id == "me" else assignee_id,
        department_id=department_id,
        unassigned=unassigned,
        origin=origin,
        number=number.upper() if number is not None else None,
        words=words,
        order=sort,
        limit=limit,
        offset=offset,
    )
    return await page(session, settings, rows, total, limit=limit, offset=offset)


@router.get("/by-number/{number}", response_model=TicketOut, responses={200: {"headers": _ETAG}, **STAFF_ERRORS})
async def get_ticket_by_number(
    number: Annotated[str, Path(min_length=1, max_length=32)],
    uow: IntakeUowDep,
    staff: CurrentStaff,
    response: Response,
) -> TicketOut:
    """The ticket with this number (as a customer quotes it; any case), with the same access rule
    as by id: its department's staff, or an admin; its version in `ETag`."""
    view = await service.read_by_number(uow.session, number.upper(), uow.settings)
    check_access(staff, custody(view.ticket))
    response.headers["ETag"] = etag(view.ticket.version)
    return render(view, uow.settings, now=uow.now())


@router.get("/{ticket_id}", response_model=TicketOut, responses={200: {"headers": _ETAG}, **STAFF_ERRORS})
async def get_ticket(ticket_id: uuid.UUID, uow: IntakeUowDep, staff: CurrentStaff, response: Response) -> TicketOut:
    """A ticket with its status, owner, sla's deadlines and clocks, and timeline (its department's
    staff, or an admin); the version of what staff edit in `ETag`."""
    view = await service.read(uow.session, ticket_id, uow.settings)
    check_access(staff, custody(view.ticket))
    response.headers["ETag"] = etag(view.ticket.version)
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
    return await once(
        uow, request, scope=f"agent:{staff.sub}", key=key, body=body, status_code=status_code, action=action
    )


@router.post("/{ticket_id}/replies", status_code=201, response_model=TicketOut, responses=STAFF_ERRORS)
async def reply(
    ticket_id: uuid.UUID,
    body: ReplyCreate,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/notes", status_code=201, response_model=TicketOut, responses=STAFF_ERRORS)
async def add_note(
    ticket_id: uuid.UUID,
    body: NoteCreate,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/plan", status_code=200, response_model=TicketOut, responses=STAFF_ERRORS)
async def commit_plan(
    ticket_id: uuid.UUID,
    body: PlanCommit,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/updates", status_code=201, response_model=TicketOut, responses=STAFF_ERRORS)
async def send_update(
    ticket_id: uuid.UUID,
    body: UpdateCreate,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/waiting", status_code=200, response_model=TicketOut, responses=STAFF_ERRORS)
async def wait_on_customer(
    ticket_id: uuid.UUID,
    body: WaitRequest,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/resolve", status_code=200, response_model=TicketOut, responses=STAFF_ERRORS)
async def resolve(
    ticket_id: uuid.UUID,
    body: ResolveRequest,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/follow-up", status_code=200, response_model=TicketOut, responses=STAFF_ERRORS)
async def follow_up(
    ticket_id: uuid.UUID,
    body: FollowUpCreate,
    request: Request,
    uow: IntakeUowDep,
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


@router.post("/{ticket_id}/connected", response_model=TicketOut, responses=STAFF_ERRORS)
async def connected(ticket_id: uuid.UUID, uow: IntakeUowDep, staff: CurrentStaff) -> TicketOut:
    """The assignee is now connected with the customer waiting live (call picked up, chat
    answered): meets the live-access clock. Idempotent."""
    ticket = await service.connected(uow, ticket_id=ticket_id, agent=staff)
    await uow.session.flush()
    return render(await service.view(uow.session, ticket, uow.settings), uow.settings, now=uow.now())


@router.post("/{ticket_id}/solved-by-article", response_model=TicketOut, responses=ERRORS)
async def solved_by_article(
    ticket_id: uuid.UUID,
    body: SolvedByArticle,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer's question was answered by a suggested article: the channel reports it and
    the ticket is resolved as self-service (no agent). Otherwise nothing is needed: the ticket is
    with a person already."""
    return await once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=lambda: service.solve_by_article(uow, ticket_id=ticket_id, article_id=body.article_id, client=client),
        for_channel=True,
    )


@router.patch(
    "/{ticket_id}",
    response_model=TicketOut,
    responses={
        200: {"headers": _ETAG},
        **STAFF_ERRORS,
        412: {"description": "The urgency or category changed since the version named (`ticket_changed`)"},
        428: {"description": "`If-Match` is missing (`if_match_required`)"},
    },
)
async def change_ticket(
    ticket_id: uuid.UUID,
    body: TicketPatch,
    request: Request,
    uow: IntakeUowDep,
    staff: CurrentStaff,
    if_match: IfMatchRequired,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the ticket's urgency or category (the owner or a supervisor) over the version read
    (`If-Match`, the `ETag` of the ticket as read); routing re-scores it or moves it to the
    department owning the new category."""
    changed: list[Ticket] = []

    async def action() -> Ticket:
        changed.append(await service.change(uow, ticket_id=ticket_id, patch=body, if_match=if_match, staff=staff))
        return changed[-1]

    response = await once(
        uow,
        request,
        scope=f"agent:{staff.sub}",
        key=idempotency_key,
        body=body,
        status_code=200,
        action=action,
    )
    if changed:
        response.headers["ETag"] = etag(changed[-1].version)
    return response


@router.post("/{ticket_id}/messages", status_code=201, response_model=TicketOut, responses=ERRORS)
async def add_message(
    ticket_id: uuid.UUID,
    body: MessageCreate,
    request: Request,
    uow: IntakeUowDep,
    client: ChannelDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The customer writes again through the channel that reported the problem: a ticket waiting
    on them goes back in progress, a resolved one reopens (within the reopen window)."""
    return await once(
        uow,
        request,
        scope=f"channel:{client.id}",
        key=idempotency_key,
        body=body,
        status_code=201,
        action=lambda: service.message_from_channel(uow, ticket_id=ticket_id, message=body, client=client),
        for_channel=True,
    )
