"""What every audience of tickets shares: the facts each ticket event repeats, the one move
through the lifecycle (`domain.py`'s transitions), timeline entries sealed with the customer's key,
the customer writing again, and a ticket opened for rendering. Every change emits its event
through the unit of work, so it reaches the outbox in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.attachments import service as attachments
from ticketloop_intake.customers.service import ERASED, clear, key_for_sealing, keys_for_opening, open_field, seal_field
from ticketloop_intake.deadlines.service import FirstClocks
from ticketloop_intake.knowledge.service import Suggestion
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import (
    Action,
    Custody,
    Status,
    next_status,
    within_reopen_window,
)
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.errors import Conflict, NotFound
from ticketloop_shared.events import (
    CareOutcome,
    TicketCreatedData,
    TicketMessageReceivedData,
    TicketOrigin,
    TicketRef,
    TicketReopenedData,
    TicketResolvedData,
    TicketStatusChangedData,
)
from ticketloop_shared.ids import new_id

# Every event about a ticket, and every event those cause downstream, carries the ticket id as
# its correlation id (the unit of work's rule): one id traces a problem through all services.


@dataclass(frozen=True)
class Personal:
    """A ticket's personal texts, opened for rendering (never stored like this)."""

    subject: str
    description: str
    name: str
    contact: str | None
    bodies: dict[uuid.UUID, str | None]
    # The channel's own customer reference, for that channel's eyes only (None once erased, or
    # on a row written before pseudonyms, whose customer id is still the reference).
    reference: str | None = None


@dataclass(frozen=True)
class TicketView:
    """A ticket with its timeline and its personal texts opened, as the endpoints render it."""

    ticket: Ticket
    timeline: Sequence[TimelineEntry]
    personal: Personal
    # The answer to a report that was added to this existing ticket.
    repeat_contact: bool = False
    suggestions: Sequence[Suggestion] = ()
    # The files sent with each timeline entry (customer messages and replies), by entry id.
    attachments: Mapping[uuid.UUID, Sequence[attachments.Listed]] = field(default_factory=dict)
    # Shown to a channel client that did not open the ticket (a repeat contact on another of the
    # customer's channels): no customer link, which would open the whole ticket.
    other_channel: bool = False


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


def created_data(ticket: Ticket, first: FirstClocks | None = None) -> TicketCreatedData:
    """`ticket.created` of a ticket about to be written (reported, or opened by the system), with
    the clocks computed for it at acceptance (`first`), which sla then need not publish again."""
    return TicketCreatedData(
        clocks=first.clocks if first is not None else None,
        clocks_policy_id=first.policy_id if first is not None else None,
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
        due_at=ticket.due_at,
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
        outcome=CareOutcome(ticket.care_outcome) if ticket.care_outcome else None,
        **extra,
    )


async def locked(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    """The ticket, locked for a change; 404 when there is none."""
    ticket = await repository.get(session, ticket_id, for_update=True)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


def custody(ticket: Ticket) -> Custody:
    """Who holds the ticket, for the access rule."""
    return Custody(department_id=ticket.department_id, assignee_id=ticket.assignee_id)


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
    uow: IntakeUnit,
    ticket: Ticket,
    kind: str,
    actor: str,
    *,
    personal: str | None = None,
    note: str | None = None,
    files: Sequence[attachments.Checked] = (),
) -> TimelineEntry:
    """Add a timeline entry: `personal` text is sealed with the customer's key, a system `note`
    (e.g. "normal → urgent") is stored clear; checked `files` are stored sealed with it."""
    body = None
    if personal is not None:
        key = await key_for_sealing(uow, ticket.customer_id)
        body = seal_field(key, ticket.customer_id, "body", personal)
    elif note is not None:
        body = clear(note)
    entry = TimelineEntry(id=new_id(), ticket_id=ticket.id, at=uow.now(), kind=kind, actor=actor, body=body)
    repository.add_entry(uow.session, entry)
    if files:
        await uow.session.flush()  # the entry first: its files refer to it
        await attachments.store(
            uow, ticket_id=ticket.id, entry_id=entry.id, customer_id=ticket.customer_id, files=files
        )
    return entry


def _reopen_window(uow: IntakeUnit) -> timedelta:
    return timedelta(days=uow.settings.reopen_window_days)


def check_reopenable(uow: IntakeUnit, ticket: Ticket) -> None:
    if not within_reopen_window(ticket.resolved_at, uow.now(), _reopen_window(uow)):
        raise Conflict(
            f"the ticket was resolved more than {uow.settings.reopen_window_days:g} days ago; report a new problem",
            code="reopen_window_passed",
            details={
                "status": ticket.status,
                "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
            },
        )


def reopened(uow: IntakeUnit, ticket: Ticket, previous: Status, *, reason: str, actor: str) -> None:
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
    uow: IntakeUnit,
    *,
    ticket: Ticket,
    text: str,
    actor: str,
    via: str,
    reopen_reason: str = "customer_message",
    files: Sequence[attachments.Checked] = (),
) -> TimelineEntry:
    """The customer writes again (with checked `files`, if any): a ticket waiting on them goes
    back in progress, a resolved or closed one reopens (within the reopen window; after it, 409
    `reopen_window_passed`)."""
    if Status(ticket.status) in (Status.RESOLVED, Status.CLOSED):
        check_reopenable(uow, ticket)
    previous = move(uow, ticket, Action.CUSTOMER_MESSAGE, actor=actor)
    now = uow.now()
    ticket.last_customer_message_at = now
    entry = await add_entry(uow, ticket, "message", actor, personal=text, files=files)
    uow.emit(TicketMessageReceivedData(**ticket_ref(ticket), message_id=entry.id, received_at=now, via=via))
    if Status(ticket.status) is Status.REOPENED and previous is not Status.REOPENED:
        reopened(uow, ticket, previous, reason=reopen_reason, actor=actor)
    return entry


def open_ticket(key: bytes | None, ticket: Ticket, timeline: Sequence[TimelineEntry] = ()) -> Personal:
    """The ticket's personal texts; erased ones read as `[erased]` (contact and bodies: None)."""
    cid = ticket.customer_id

    def text(blob: bytes | None, field: str) -> str | None:
        return open_field(key, cid, field, blob)

    return Personal(
        subject=text(ticket.subject, "subject") or ERASED,
        description=text(ticket.description, "description") or ERASED,
        name=text(ticket.customer_name, "name") or ERASED,
        contact=text(ticket.customer_contact, "contact"),
        bodies={e.id: text(e.body, "body") for e in timeline},
        reference=text(ticket.customer_reference, "reference"),
    )


async def view(session: AsyncSession, ticket: Ticket, settings: IntakeSettings) -> TicketView:
    """The ticket as it now stands, with its timeline (after a change in this transaction)."""
    await session.flush()
    timeline = await repository.timeline(session, ticket.id)
    key = (await keys_for_opening(session, [ticket.customer_id], settings))[ticket.customer_id]
    files = await attachments.of_ticket(session, ticket.id, customer_id=ticket.customer_id, key=key)
    return TicketView(ticket=ticket, timeline=timeline, personal=open_ticket(key, ticket, timeline), attachments=files)
