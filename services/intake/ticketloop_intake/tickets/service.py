"""The rules of tickets. Every change emits its event through the unit of work, so it reaches
the outbox in the same transaction."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers import crypto
from ticketloop_intake.customers.service import ERASED, KEYS, Personal, open_ticket, seal_field, statements
from ticketloop_intake.idempotency.service import claim_key
from ticketloop_intake.knowledge import service as knowledge
from ticketloop_intake.knowledge.service import Suggestion
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import links, repository
from ticketloop_intake.tickets.domain import (
    Action,
    Custody,
    SlaClocks,
    Status,
    check_access,
    fingerprint,
    newest_per_ticket,
    next_status,
    transitions,
    within_reopen_window,
)
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.repository import NUMBERS, Claim, KeyTaken, RepeatProbe
from ticketloop_intake.tickets.schemas import (
    FollowUpCreate,
    MessageCreate,
    NoteCreate,
    PlanCommit,
    ReopenRequest,
    ReplyCreate,
    ResolveRequest,
    TicketCreate,
    TicketPatch,
    UpdateCreate,
    WaitRequest,
)
from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Conflict, Forbidden, Gone, NotFound, Unprocessable
from ticketloop_shared.events import (
    ClockView,
    SlaClocksChangedData,
    TicketAssignedData,
    TicketClosedData,
    TicketCreatedData,
    TicketFollowedUpData,
    TicketMessageReceivedData,
    TicketOrigin,
    TicketPlanCommittedData,
    TicketPriorityChangedData,
    TicketQueuedData,
    TicketRecategorisedData,
    TicketRef,
    TicketReopenedData,
    TicketRepeatContactData,
    TicketRepliedData,
    TicketResolvedData,
    TicketStatusChangedData,
    TicketUpdatedData,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Every event about a ticket, and every event those cause downstream, carries the ticket id as
# its correlation id (the unit of work's rule): one id traces a problem through all services.


@dataclass(frozen=True)
class TicketView:
    """A ticket with its timeline and its personal texts opened, as the endpoints render it."""

    ticket: Ticket
    timeline: Sequence[TimelineEntry]
    personal: Personal
    # The answer to a report that was added to this existing ticket.
    repeat_contact: bool = False
    suggestions: Sequence[Suggestion] = ()


IntakeUnit = UnitOfWork[IntakeSettings]
# The answer to a report added to the customer's existing ticket: 200, not 201 (nothing created).
REPEAT_STATUS = 200


def ticket_ref(ticket: Ticket) -> dict[str, object]:
    return TicketRef(
        ticket_id=ticket.id,
        number=ticket.number,
        channel=ticket.channel,
        category=ticket.category,
        urgency=ticket.urgency,
        customer_id=ticket.customer_id,
        created_at=ticket.created_at,
    ).model_dump()


def ticket_number(settings: IntakeSettings, now: datetime, seq: int) -> str:
    """The human-readable number: prefix + date + sequence (e.g. `T20261123000042`)."""
    return f"{settings.ticket_number_prefix}{now:%Y%m%d}{seq:06d}"


def created_data(ticket: Ticket) -> TicketCreatedData:
    """`ticket.created` of a ticket about to be written (reported, or opened by the system)."""
    return TicketCreatedData(
        **ticket_ref(ticket),
        need=ticket.need,
        expected_resolution_at=ticket.expected_resolution_at,
        customer_annual_spend=ticket.customer_annual_spend,
        customer_since=ticket.customer_since,
        required_skills=list(ticket.required_skills),
        live_session=ticket.live_session,
        customer_preferred_channel=ticket.customer_preferred_channel,
        origin=TicketOrigin(ticket.origin),
        origin_id=ticket.origin_id,
        linked_ticket_id=ticket.linked_ticket_id,
    )


def resolved_data(ticket: Ticket, *, by: str, **extra: Any) -> TicketResolvedData:
    """`ticket.resolved`, with what feedback needs to survey (or not) on the right channel."""
    if ticket.resolved_at is None:
        raise ValueError(f"ticket {ticket.id} is not resolved")
    return TicketResolvedData(
        **ticket_ref(ticket),
        resolved_at=ticket.resolved_at,
        resolved_by=by,
        first_response_at=ticket.first_response_at,
        customer_preferred_channel=ticket.customer_preferred_channel,
        origin=TicketOrigin(ticket.origin),
        origin_id=ticket.origin_id,
        **extra,
    )


async def create_ticket(
    uow: IntakeUnit, *, report: TicketCreate, client: ChannelClientView, claim: Claim | None = None
) -> TicketView:
    """Accept a reported problem: number it, record and announce it (sla, which owns the
    deadlines, starts its clocks on the announcement and publishes them back).

    The hot path of the whole system: one autocommit statement writes the ticket, its first
    timeline entry, its outbox row and the Idempotency-Key's record (`claim`; `KeyTaken` when
    the key was used before), and nothing is read back.
    """
    if report.channel.value not in client.channels:
        raise Forbidden(
            f"channel client {client.name!r} may not report on channel {report.channel.value!r}",
            code="channel_not_allowed",
        )
    settings = uow.settings
    now = uow.now()
    seq = await NUMBERS.next(statements(uow))
    customer = report.customer
    key = await KEYS.for_sealing(uow, customer.id)
    problem = fingerprint(report.subject, key=key)

    def sealed(field: str, value: str) -> bytes:
        return seal_field(key, customer.id, field, value)

    ticket = Ticket(
        id=new_id(),
        number=ticket_number(settings, now, seq),
        status=Status.PENDING_ASSIGNMENT.value,
        channel=report.channel.value,
        channel_client_id=client.id,
        category=report.category.value,
        need=report.need.value,
        urgency=report.urgency.value,
        subject=sealed("subject", report.subject),
        description=sealed("description", report.description),
        customer_id=customer.id,
        customer_name=sealed("name", customer.name),
        customer_contact=sealed("contact", customer.contact) if customer.contact is not None else None,
        customer_since=customer.customer_since,
        customer_annual_spend=customer.annual_spend,
        customer_preferred_channel=customer.preferred_channel.value if customer.preferred_channel else None,
        expected_resolution_at=report.expected_resolution_at,
        required_skills=list(report.required_skills),
        fingerprint=problem,
        self_service=False,
        reopen_count=0,
        live_session=report.live_session,
        origin=TicketOrigin.CUSTOMER.value,
        created_at=now,
        updated_at=now,
    )
    entry = TimelineEntry(id=new_id(), ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{client.name}")
    uow.emit(created_data(ticket))
    [outbox_row] = uow.claim_outbox_rows()
    probe = None
    if not report.new_ticket and settings.repeat_window_days > 0:
        probe = RepeatProbe(
            channel_client_id=client.id,
            customer_id=customer.id,
            category=report.category.value,
            fingerprint=problem,
            resolved_since=now - timedelta(days=settings.repeat_window_days),
        )
    prior = await repository.insert_new(statements(uow), ticket, entry, outbox_row=outbox_row, claim=claim, probe=probe)
    if prior is not None:
        return await _repeat_contact(uow, ticket_id=prior, report=report, client=client, claim=claim)
    personal = Personal(
        subject=report.subject,
        description=report.description,
        name=customer.name,
        contact=customer.contact,
        bodies={entry.id: None},
    )
    return TicketView(ticket=ticket, timeline=[entry], personal=personal)


async def _repeat_contact(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, report: TicketCreate, client: ChannelClientView, claim: Claim | None
) -> TicketView:
    """The customer reported a problem they already have: add the report to that ticket as their
    message (reopening it if it was resolved) instead of opening a second one."""
    if claim is not None and not await claim_key(uow.session, claim, resource_id=ticket_id, status_code=REPEAT_STATUS):
        raise KeyTaken(claim.key)
    ticket = await _locked(uow.session, ticket_id)
    before = Status(ticket.status)
    entry = await add_customer_message(
        uow,
        ticket=ticket,
        text=f"{report.subject}\n\n{report.description}",
        actor=f"channel:{client.name}",
        via="repeat_contact",
        reopen_reason="repeat_contact",
    )
    uow.emit(
        TicketRepeatContactData(
            **ticket_ref(ticket),
            contacted_at=uow.now(),
            via_channel=report.channel.value,
            reopened=before in (Status.RESOLVED, Status.CLOSED),
            message_id=entry.id,
        )
    )
    return replace(await view(uow.session, ticket, uow.settings), repeat_contact=True)


async def _locked(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await repository.get(session, ticket_id, for_update=True)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


def custody(ticket: Ticket) -> Custody:
    """Who holds the ticket, for the access rule."""
    return Custody(department_id=ticket.department_id, assignee_id=ticket.assignee_id)


async def _for_staff(uow: IntakeUnit, ticket_id: uuid.UUID, staff: Principal, action: Action) -> Ticket:
    """The ticket, locked, once `staff` may take `action` on it (else 403 with the reason)."""
    ticket = await _locked(uow.session, ticket_id)
    check_access(staff, custody(ticket), action)
    return ticket


async def _for_channel(uow: IntakeUnit, ticket_id: uuid.UUID, client: ChannelClientView) -> Ticket:
    """The ticket, locked, if this channel client created it (another client's is not found)."""
    ticket = await _locked(uow.session, ticket_id)
    if ticket.channel_client_id != client.id:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


def move(uow: IntakeUnit, ticket: Ticket, action: Action, *, actor: str) -> Status:
    """Apply `action`'s transition (409 if illegal) and announce a change of status; returns the
    status before."""
    old = Status(ticket.status)
    new = next_status(old, action)
    now = uow.now()
    ticket.status = new.value
    ticket.updated_at = now
    if new is not old:
        if new is Status.WAITING_ON_CUSTOMER:
            ticket.waiting_since = now
        elif old is Status.WAITING_ON_CUSTOMER:
            ticket.waiting_since = None
        uow.emit(
            TicketStatusChangedData(
                **ticket_ref(ticket),
                from_status=old.value,
                to_status=new.value,
                action=action.value,
                actor=actor,
                changed_at=now,
            )
        )
    return old


async def add_entry(
    uow: IntakeUnit, ticket: Ticket, kind: str, actor: str, *, personal: str | None = None, note: str | None = None
) -> TimelineEntry:
    """Add a timeline entry: `personal` text is sealed with the customer's key, a system `note`
    (e.g. "normal → urgent") is stored clear."""
    body = None
    if personal is not None:
        key = await KEYS.for_sealing(uow, ticket.customer_id)
        body = seal_field(key, ticket.customer_id, "body", personal)
    elif note is not None:
        body = crypto.clear(note)
    entry = TimelineEntry(id=new_id(), ticket_id=ticket.id, at=uow.now(), kind=kind, actor=actor, body=body)
    repository.add_entry(uow.session, entry)
    return entry


def _agent(staff: Principal) -> str:
    return f"agent:{staff.sub}" if staff.role is not Role.ADMIN else f"admin:{staff.sub}"


async def reply(uow: IntakeUnit, *, ticket_id: uuid.UUID, message: ReplyCreate, agent: Principal) -> Ticket:
    """Send the owner's reply to the customer; the first one stops the first-response clock."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.REPLY)
    move(uow, ticket, Action.REPLY, actor=_agent(agent))
    now = uow.now()
    first = ticket.first_response_at is None
    if first:
        ticket.first_response_at = now
    entry = await add_entry(uow, ticket, "reply", _agent(agent), personal=message.body)
    await uow.session.flush()
    uow.emit(
        TicketRepliedData(
            **ticket_ref(ticket), message_id=entry.id, agent_id=agent.sub, replied_at=now, first_response=first
        )
    )
    return ticket


async def add_note(uow: IntakeUnit, *, ticket_id: uuid.UUID, note: NoteCreate, staff: Principal) -> Ticket:
    """An internal note for colleagues of the department (never shown to the channel, no event)."""
    ticket = await _for_staff(uow, ticket_id, staff, Action.NOTE)
    ticket.updated_at = uow.now()
    await add_entry(uow, ticket, "note", _agent(staff), personal=note.body)
    return ticket


async def commit_plan(uow: IntakeUnit, *, ticket_id: uuid.UUID, plan: PlanCommit, agent: Principal) -> Ticket:
    """Tell the customer how and by when the problem will be solved (SPEC §2: a solution or an
    explicit handling deadline within 2 hours); a later plan replaces the commitment."""
    now = uow.now()
    if plan.committed_resolution_at <= now:
        raise Unprocessable(
            "committed_resolution_at must be in the future",
            code="committed_time_in_past",
            details={"now": now.isoformat()},
        )
    ticket = await _for_staff(uow, ticket_id, agent, Action.PLAN)
    move(uow, ticket, Action.PLAN, actor=_agent(agent))
    ticket.committed_resolution_at = plan.committed_resolution_at
    ticket.plan_committed_at = now
    await add_entry(uow, ticket, "plan", _agent(agent), personal=plan.summary)
    uow.emit(
        TicketPlanCommittedData(
            **ticket_ref(ticket),
            agent_id=agent.sub,
            committed_at=now,
            committed_resolution_at=plan.committed_resolution_at,
        )
    )
    return ticket


async def send_update(uow: IntakeUnit, *, ticket_id: uuid.UUID, update: UpdateCreate, agent: Principal) -> Ticket:
    """A progress update to the customer (the 24-hour rule counts these)."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.UPDATE)
    move(uow, ticket, Action.UPDATE, actor=_agent(agent))
    now = uow.now()
    ticket.last_update_at = now
    entry = await add_entry(uow, ticket, "update", _agent(agent), personal=update.body)
    uow.emit(TicketUpdatedData(**ticket_ref(ticket), message_id=entry.id, agent_id=agent.sub, updated_at=now))
    return ticket


async def wait_on_customer(uow: IntakeUnit, *, ticket_id: uuid.UUID, request: WaitRequest, agent: Principal) -> Ticket:
    """Ask the customer for something; the ticket waits on them until they answer."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.WAIT)
    move(uow, ticket, Action.WAIT, actor=_agent(agent))
    await add_entry(uow, ticket, "waiting", _agent(agent), personal=request.body)
    return ticket


async def change(uow: IntakeUnit, *, ticket_id: uuid.UUID, patch: TicketPatch, staff: Principal) -> Ticket:
    """Change urgency and/or category (routing re-scores or moves the ticket); an unchanged
    value is no change and announces nothing."""
    ticket = await _for_staff(
        uow, ticket_id, staff, Action.RECATEGORISE if patch.category is not None else Action.CHANGE_PRIORITY
    )
    now, actor = uow.now(), _agent(staff)
    if patch.urgency is not None and patch.urgency.value != ticket.urgency:
        next_status(Status(ticket.status), Action.CHANGE_PRIORITY)
        previous, ticket.urgency = ticket.urgency, patch.urgency.value
        ticket.updated_at = now
        await add_entry(uow, ticket, "priority_changed", actor, note=f"{previous} → {ticket.urgency}")
        uow.emit(
            TicketPriorityChangedData(**ticket_ref(ticket), previous_urgency=previous, changed_by=actor, changed_at=now)
        )
    if patch.category is not None and patch.category.value != ticket.category:
        next_status(Status(ticket.status), Action.RECATEGORISE)
        previous, ticket.category = ticket.category, patch.category.value
        ticket.updated_at = now
        await add_entry(uow, ticket, "recategorised", actor, note=f"{previous} → {ticket.category}")
        uow.emit(
            TicketRecategorisedData(**ticket_ref(ticket), previous_category=previous, changed_by=actor, changed_at=now)
        )
    return ticket


async def resolve(uow: IntakeUnit, *, ticket_id: uuid.UUID, request: ResolveRequest, agent: Principal) -> Ticket:
    """Mark the problem solved; this starts the feedback step and the customer's window to
    confirm or reopen."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.RESOLVE)
    move(uow, ticket, Action.RESOLVE, actor=_agent(agent))
    now = uow.now()
    ticket.resolved_at = now
    ticket.resolved_by = agent.sub
    ticket.self_service = False
    ticket.resolved_by_article = None
    await add_entry(uow, ticket, "resolved", _agent(agent), personal=request.resolution)
    await uow.session.flush()
    uow.emit(resolved_data(ticket, by=agent.sub))
    return ticket


async def solve_by_article(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, article_id: uuid.UUID, client: ChannelClientView
) -> Ticket:
    """The customer's question was answered by a knowledge-base article: the ticket is resolved
    as self-service (first-contact resolution, no agent)."""
    if not await knowledge.article_exists_active(uow.session, article_id):
        raise NotFound(f"no active article with id {article_id}", code="article_not_found")
    ticket = await _for_channel(uow, ticket_id, client)
    actor = f"channel:{client.name}"
    move(uow, ticket, Action.RESOLVE, actor=actor)
    now = uow.now()
    ticket.resolved_at, ticket.resolved_by = now, "self_service"
    ticket.self_service, ticket.resolved_by_article = True, article_id
    await add_entry(uow, ticket, "resolved", actor, note=f"solved by article {article_id}")
    await uow.session.flush()
    uow.emit(resolved_data(ticket, by="self_service", self_service=True, article_id=article_id))
    return ticket


async def follow_up(uow: IntakeUnit, *, ticket_id: uuid.UUID, visit: FollowUpCreate, agent: Principal) -> Ticket:
    """Record the post-resolution follow-up with the customer (SPEC §2: within 2 hours)."""
    ticket = await _for_staff(uow, ticket_id, agent, Action.FOLLOW_UP)
    move(uow, ticket, Action.FOLLOW_UP, actor=_agent(agent))
    now = uow.now()
    ticket.followed_up_at = now
    assert ticket.resolved_at is not None  # a resolved or closed ticket was resolved
    await add_entry(uow, ticket, "follow_up", _agent(agent), personal=visit.body)
    uow.emit(
        TicketFollowedUpData(
            **ticket_ref(ticket), agent_id=agent.sub, followed_up_at=now, resolved_at=ticket.resolved_at
        )
    )
    return ticket


def _reopen_window(uow: IntakeUnit) -> timedelta:
    return timedelta(days=uow.settings.reopen_window_days)


def _check_reopenable(uow: IntakeUnit, ticket: Ticket) -> None:
    if not within_reopen_window(ticket.resolved_at, uow.now(), _reopen_window(uow)):
        raise Conflict(
            f"the ticket was resolved more than {uow.settings.reopen_window_days:g} days ago; report a new problem",
            code="reopen_window_passed",
            details={
                "status": ticket.status,
                "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
            },
        )


def _reopened(uow: IntakeUnit, ticket: Ticket, previous: Status, *, reason: str, actor: str) -> None:
    now = uow.now()
    ticket.reopened_at = now
    ticket.reopen_count += 1
    ticket.closed_at = None
    uow.emit(
        TicketReopenedData(
            **ticket_ref(ticket), reopened_at=now, previous_status=previous.value, reason=reason, actor=actor
        )
    )


async def add_customer_message(
    uow: IntakeUnit, *, ticket: Ticket, text: str, actor: str, via: str, reopen_reason: str = "customer_message"
) -> TimelineEntry:
    """The customer writes again: a ticket waiting on them goes back in progress, a resolved or
    closed one reopens (within the reopen window; after it, 409 `reopen_window_passed`)."""
    if Status(ticket.status) in (Status.RESOLVED, Status.CLOSED):
        _check_reopenable(uow, ticket)
    previous = move(uow, ticket, Action.CUSTOMER_MESSAGE, actor=actor)
    now = uow.now()
    ticket.last_customer_message_at = now
    entry = await add_entry(uow, ticket, "message", actor, personal=text)
    uow.emit(TicketMessageReceivedData(**ticket_ref(ticket), message_id=entry.id, received_at=now, via=via))
    if Status(ticket.status) is Status.REOPENED and previous is not Status.REOPENED:
        _reopened(uow, ticket, previous, reason=reopen_reason, actor=actor)
    return entry


async def message_from_channel(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, message: MessageCreate, client: ChannelClientView
) -> Ticket:
    """A customer message through the channel that reported the problem."""
    ticket = await _for_channel(uow, ticket_id, client)
    await add_customer_message(uow, ticket=ticket, text=message.body, actor=f"channel:{client.name}", via="channel")
    return ticket


async def confirm(uow: IntakeUnit, *, ticket: Ticket, actor: str) -> Ticket:
    """The customer confirms the solution: the ticket is closed."""
    move(uow, ticket, Action.CONFIRM, actor=actor)
    now = uow.now()
    ticket.closed_at = now
    await add_entry(uow, ticket, "closed", actor, note="confirmed by the customer")
    uow.emit(
        TicketClosedData(
            **ticket_ref(ticket), closed_at=now, resolved_at=ticket.resolved_at, automatic=False, actor=actor
        )
    )
    return ticket


async def reopen(uow: IntakeUnit, *, ticket: Ticket, request: ReopenRequest, actor: str) -> Ticket:
    """The customer says the problem is not solved (within the reopen window)."""
    _check_reopenable(uow, ticket)
    previous = move(uow, ticket, Action.REOPEN, actor=actor)
    await add_entry(uow, ticket, "reopened", actor, personal=request.reason)
    _reopened(uow, ticket, previous, reason="customer_request", actor=actor)
    return ticket


async def for_channel(uow: IntakeUnit, ticket_id: uuid.UUID, client: ChannelClientView) -> Ticket:
    """The ticket, locked, for a change its channel asks for on the customer's behalf."""
    return await _for_channel(uow, ticket_id, client)


async def for_link(uow: IntakeUnit, token: str) -> Ticket:
    """The ticket a customer's link names, locked; 410 once the link has expired or a newer
    resolution replaced it."""
    claim = links.verify(uow.settings.customer_link_key, token)
    ticket = await _locked(uow.session, claim.ticket_id)
    check_link(uow.settings, ticket, claim, now=uow.now())
    return ticket


def check_link(settings: IntakeSettings, ticket: Ticket, claim: links.LinkClaim, *, now: datetime) -> None:
    """Refuse a link for an earlier resolution, or one past its window."""
    if not links.same_instant(ticket.resolved_at, claim.resolved_at):
        raise Gone("this link was replaced by a newer one", code="link_superseded")
    if now > claim.resolved_at + timedelta(days=settings.reopen_window_days):
        raise Gone("this link has expired", code="link_expired")


def link_for(settings: IntakeSettings, ticket: Ticket, now: datetime) -> tuple[str, datetime] | None:
    """The customer's confirm-or-reopen link while the ticket is resolved and within its window."""
    if ticket.status != Status.RESOLVED.value or ticket.resolved_at is None:
        return None
    expires = ticket.resolved_at + timedelta(days=settings.reopen_window_days)
    if now > expires:
        return None
    token = links.issue(settings.customer_link_key, ticket.id, ticket.resolved_at)
    return f"{settings.public_base_url}/v1/customer-links/{token}", expires


async def record_assignments(
    uow: IntakeUnit, assignments: Sequence[TicketAssignedData], *, kind: str = "assigned"
) -> None:
    """Show routing's choice of owner on each ticket (routing owns the decision).

    One statement per run applies the ASSIGN transition of `domain.py` and adds the timeline
    entries; an older assignment arriving late does not replace a newer one. A ticket assigned
    twice in the run is applied in order, one round per repeat. Each change of status is
    announced like any other.
    """
    statuses = {k.value: v.value for k, v in transitions(Action.ASSIGN).items()}
    rounds: list[list[TicketAssignedData]] = []
    seen: dict[uuid.UUID, int] = {}
    for data in assignments:
        n = seen.get(data.ticket_id, 0)
        seen[data.ticket_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(data)
    applied: set[uuid.UUID] = set()
    for batch in rounds:
        shown = [
            repository.Shown(
                ticket_id=d.ticket_id,
                agent_id=d.agent_id,
                agent_name=d.agent_name,
                department_id=d.department_id,
                department_name=d.department_name,
                assigned_at=d.assigned_at,
                entry_id=new_id(),
                entry_body=crypto.clear(f"{d.agent_name} ({d.department_name})"),
            )
            for d in batch
        ]
        when = {d.ticket_id: d.assigned_at for d in batch}
        for row in await repository.apply_assignments(uow.session, shown, statuses=statuses, kind=kind):
            applied.add(row.ticket_id)
            if row.old_status != row.new_status:
                uow.emit(
                    TicketStatusChangedData(
                        ticket_id=row.ticket_id,
                        number=row.number,
                        channel=row.channel,
                        category=row.category,
                        urgency=row.urgency,
                        customer_id=row.customer_id,
                        created_at=row.created_at,
                        from_status=row.old_status,
                        to_status=row.new_status,
                        action=Action.ASSIGN.value,
                        actor="routing",
                        changed_at=when[row.ticket_id],
                    )
                )
    missing = [t for t in seen if t not in applied]
    if missing:
        unknown = set(missing) - await repository.existing(uow.session, missing)
        if unknown:
            raise NotFound(f"no ticket with id {sorted(unknown)[0]}", code="ticket_not_found")


async def record_queued(uow: IntakeUnit, data: TicketQueuedData) -> None:
    """Show the department whose queue the ticket waits in, so its supervisor and agents can see
    it before anyone is assigned."""
    known = await repository.show_queued(
        uow.session,
        ticket_id=data.ticket_id,
        department_id=data.department_id,
        department_name=data.department_name,
        at=data.queued_at,
        body=crypto.clear(f"waiting for an agent of {data.department_name}"),
    )
    if not known:
        raise NotFound(f"no ticket with id {data.ticket_id}", code="ticket_not_found")


async def record_clocks(uow: IntakeUnit, published: Sequence[SlaClocksChangedData]) -> None:
    """Keep each ticket's clocks as sla last published them (sla owns every deadline), in one
    statement per run: the highest version wins, so an older or repeated publication changes
    nothing. A ticket intake does not have is skipped (logged at debug), not parked: intake writes
    a ticket before sla can hear of it, so this intake never held that one (a restored database,
    another deployment on the topics) and no retry would ever apply it."""
    newest = newest_per_ticket(published)
    unknown = await repository.show_clocks(
        uow.session,
        [
            repository.ClocksShown(
                ticket_id=data.ticket_id,
                version=data.version,
                policy_id=data.policy_id,
                clocks=json.dumps([clock.model_dump(mode="json") for clock in data.clocks]),
            )
            for data in newest
        ],
    )
    if unknown:
        log.debug("sla clocks of tickets intake does not have", extra={"ticket_ids": sorted(str(t) for t in unknown)})


_STORED_CLOCKS = TypeAdapter(list[ClockView])


def sla_clocks(ticket: Ticket) -> SlaClocks | None:
    """sla's latest publication as stored on the ticket; None until sla has published any."""
    if ticket.sla_version is None or ticket.sla_policy_id is None or ticket.sla_clocks is None:
        return None
    clocks = _STORED_CLOCKS.validate_python(ticket.sla_clocks)
    return SlaClocks(policy_id=ticket.sla_policy_id, version=ticket.sla_version, clocks=tuple(clocks))


async def read(
    session: AsyncSession, ticket_id: uuid.UUID, settings: IntakeSettings, *, channel_client_id: uuid.UUID | None = None
) -> TicketView:
    """A ticket with its timeline; with `channel_client_id`, only one that client created
    (another client's ticket is not found, never forbidden: its existence is not revealed)."""
    ticket = await repository.get(session, ticket_id)
    if ticket is None or (channel_client_id is not None and ticket.channel_client_id != channel_client_id):
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return await view(session, ticket, settings)


async def view(session: AsyncSession, ticket: Ticket, settings: IntakeSettings) -> TicketView:
    """The ticket as it now stands, with its timeline (after a change in this transaction)."""
    await session.flush()
    timeline = await repository.timeline(session, ticket.id)
    key = (await KEYS.for_opening(session, [ticket.customer_id], settings))[ticket.customer_id]
    return TicketView(ticket=ticket, timeline=timeline, personal=open_ticket(key, ticket, timeline))


async def subjects(session: AsyncSession, tickets: Sequence[Ticket], settings: IntakeSettings) -> list[str]:
    """The opened subjects of a page of tickets (one key lookup for the page's customers)."""
    keys = await KEYS.for_opening(session, [t.customer_id for t in tickets], settings)
    return [
        crypto.unseal(keys[t.customer_id], t.subject, customer_id=t.customer_id, field="subject") or ERASED
        for t in tickets
    ]
