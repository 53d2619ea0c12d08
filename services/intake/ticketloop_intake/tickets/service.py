"""The rules of tickets. Every change emits its event through the unit of work, so it reaches
the outbox in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.service import ChannelClientView
from ticketloop_intake.customers import crypto
from ticketloop_intake.customers.service import ERASED, KEYS, Personal, open_ticket, seal_field, statements
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import Action, Status, next_status, transitions
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.repository import NUMBERS, Claim
from ticketloop_intake.tickets.schemas import ReplyCreate, ResolveRequest, TicketCreate
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Forbidden, NotFound
from ticketloop_shared.events import (
    TicketAssignedData,
    TicketCreatedData,
    TicketRef,
    TicketRepliedData,
    TicketResolvedData,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.targets import deadlines_for
from ticketloop_shared.unit_of_work import UnitOfWork

# Every event about a ticket, and every event those cause downstream, carries the ticket id as
# its correlation id (the unit of work's rule): one id traces a problem through all services.


@dataclass(frozen=True)
class TicketView:
    """A ticket with its timeline and its personal texts opened, as the endpoints render it."""

    ticket: Ticket
    timeline: Sequence[TimelineEntry]
    personal: Personal


IntakeUnit = UnitOfWork[IntakeSettings]


def _ref(ticket: Ticket) -> dict[str, object]:
    return TicketRef(
        ticket_id=ticket.id,
        number=ticket.number,
        channel=ticket.channel,
        category=ticket.category,
        urgency=ticket.urgency,
        customer_id=ticket.customer_id,
        created_at=ticket.created_at,
    ).model_dump()


async def create_ticket(
    uow: IntakeUnit, *, report: TicketCreate, client: ChannelClientView, claim: Claim | None = None
) -> TicketView:
    """Accept a reported problem: number it, fix its deadlines, record and announce it.

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
    due = deadlines_for(settings.targets, channel=report.channel.value, received_at=now)
    customer = report.customer
    key = await KEYS.for_sealing(uow, customer.id)

    def sealed(field: str, value: str) -> bytes:
        return seal_field(key, customer.id, field, value)

    ticket = Ticket(
        id=new_id(),
        number=f"{settings.ticket_number_prefix}{now:%Y%m%d}{seq:06d}",
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
        required_skills=[],
        self_service=False,
        reopen_count=0,
        acknowledgement_due=due.acknowledgement_due,
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        created_at=now,
        updated_at=now,
    )
    entry = TimelineEntry(id=new_id(), ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{client.name}")
    uow.emit(
        TicketCreatedData(
            **_ref(ticket),
            need=ticket.need,
            expected_resolution_at=ticket.expected_resolution_at,
            customer_annual_spend=customer.annual_spend,
            customer_since=customer.customer_since,
        )
    )
    [outbox_row] = uow.claim_outbox_rows()
    await repository.insert_new(statements(uow), ticket, entry, outbox_row=outbox_row, claim=claim)
    personal = Personal(
        subject=report.subject,
        description=report.description,
        name=customer.name,
        contact=customer.contact,
        bodies={entry.id: None},
    )
    return TicketView(ticket=ticket, timeline=[entry], personal=personal)


async def _locked(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await repository.get(session, ticket_id, for_update=True)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


async def reply(uow: IntakeUnit, *, ticket_id: uuid.UUID, message: ReplyCreate, agent: Principal) -> Ticket:
    """Send an agent's reply; the first one stops the first-response clock."""
    ticket = await _locked(uow.session, ticket_id)
    ticket.status = next_status(Status(ticket.status), Action.REPLY).value
    now = uow.now()
    first = ticket.first_response_at is None
    if first:
        ticket.first_response_at = now
    ticket.updated_at = now
    key = await KEYS.for_sealing(uow, ticket.customer_id)
    entry = TimelineEntry(
        id=new_id(),
        ticket_id=ticket.id,
        at=now,
        kind="reply",
        actor=f"agent:{agent.sub}",
        body=seal_field(key, ticket.customer_id, "body", message.body),
    )
    repository.add_entry(uow.session, entry)
    await uow.session.flush()
    uow.emit(
        TicketRepliedData(**_ref(ticket), message_id=entry.id, agent_id=agent.sub, replied_at=now, first_response=first)
    )
    return ticket


async def resolve(uow: IntakeUnit, *, ticket_id: uuid.UUID, request: ResolveRequest, agent: Principal) -> Ticket:
    """Mark the problem solved; this starts the feedback step."""
    ticket = await _locked(uow.session, ticket_id)
    ticket.status = next_status(Status(ticket.status), Action.RESOLVE).value
    now = uow.now()
    ticket.resolved_at = now
    ticket.resolved_by = agent.sub
    ticket.updated_at = now
    key = await KEYS.for_sealing(uow, ticket.customer_id)
    repository.add_entry(
        uow.session,
        TimelineEntry(
            id=new_id(),
            ticket_id=ticket.id,
            at=now,
            kind="resolved",
            actor=f"agent:{agent.sub}",
            body=seal_field(key, ticket.customer_id, "body", request.resolution),
        ),
    )
    await uow.session.flush()
    uow.emit(
        TicketResolvedData(
            **_ref(ticket), resolved_at=now, resolved_by=agent.sub, first_response_at=ticket.first_response_at
        )
    )
    return ticket


async def record_assignments(uow: IntakeUnit, assignments: Sequence[TicketAssignedData]) -> None:
    """Show routing's choice of owner on each ticket (routing owns the decision).

    One statement per run applies the ASSIGN transition of `domain.py` and adds the timeline
    entries; an older assignment arriving late does not replace a newer one. A ticket assigned
    twice in the run is applied in order, one round per repeat.
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
        applied |= await repository.apply_assignments(uow.session, shown, statuses=statuses)
    missing = [t for t in seen if t not in applied]
    if missing:
        unknown = set(missing) - await repository.existing(uow.session, missing)
        if unknown:
            raise NotFound(f"no ticket with id {sorted(unknown)[0]}", code="ticket_not_found")


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
