"""The rules of tickets. Every change writes its event to the outbox in the same transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.models import ChannelClient
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import Action, Status, next_status
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.schemas import (
    AssigneeOut,
    CustomerOut,
    DeadlinesOut,
    ReplyCreate,
    ResolveRequest,
    TicketCreate,
    TicketOut,
    TimelineEntryOut,
)
from ticketloop_shared.auth import Principal
from ticketloop_shared.clock import Clock
from ticketloop_shared.errors import Forbidden, NotFound
from ticketloop_shared.events import (
    TicketAssignedData,
    TicketCreated,
    TicketCreatedData,
    TicketRef,
    TicketReplied,
    TicketRepliedData,
    TicketResolved,
    TicketResolvedData,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.privacy import mask_contact
from ticketloop_shared.targets import ResponseTargets, deadlines_for

SOURCE = "intake"
# Every event about a ticket, and every event those cause downstream, carries the ticket id as
# its correlation id: one id traces a customer problem through all five services.


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
    session: AsyncSession,
    *,
    report: TicketCreate,
    client: ChannelClient,
    outbox: Outbox,
    clock: Clock,
    targets: ResponseTargets,
    number_prefix: str,
) -> Ticket:
    """Accept a reported problem: number it, fix its deadlines, record and announce it."""
    if report.channel.value not in client.channels:
        raise Forbidden(
            f"channel client {client.name!r} may not report on channel {report.channel.value!r}",
            code="channel_not_allowed",
        )
    now = clock.now()
    seq = await repository.next_number(session)
    due = deadlines_for(targets, channel=report.channel.value, received_at=now)
    customer = report.customer
    ticket = Ticket(
        id=new_id(),
        number=f"{number_prefix}{now:%Y%m%d}{seq:06d}",
        status=Status.PENDING_ASSIGNMENT.value,
        channel=report.channel.value,
        channel_client_id=client.id,
        category=report.category.value,
        need=report.need.value,
        urgency=report.urgency.value,
        subject=report.subject,
        description=report.description,
        customer_id=customer.id,
        customer_name=customer.name,
        customer_contact=customer.contact,
        customer_since=customer.customer_since,
        customer_annual_spend=customer.annual_spend,
        customer_preferred_channel=customer.preferred_channel.value if customer.preferred_channel else None,
        expected_resolution_at=report.expected_resolution_at,
        acknowledgement_due=due.acknowledgement_due,
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    repository.add_entry(
        session, TimelineEntry(ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{client.name}", body=None)
    )
    await session.flush()
    await outbox.add(
        session,
        TicketCreated(
            source=SOURCE,
            subject=str(ticket.id),
            time=now,
            correlation_id=ticket.id,
            data=TicketCreatedData(
                **_ref(ticket),
                need=ticket.need,
                expected_resolution_at=ticket.expected_resolution_at,
                customer_annual_spend=customer.annual_spend,
                customer_since=customer.customer_since,
            ),
        ),
    )
    return ticket


async def _locked(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await repository.get(session, ticket_id, for_update=True)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return ticket


async def reply(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    message: ReplyCreate,
    agent: Principal,
    outbox: Outbox,
    clock: Clock,
) -> Ticket:
    """Send an agent's reply; the first one stops the first-response clock."""
    ticket = await _locked(session, ticket_id)
    ticket.status = next_status(Status(ticket.status), Action.REPLY).value
    now = clock.now()
    first = ticket.first_response_at is None
    if first:
        ticket.first_response_at = now
    ticket.updated_at = now
    entry = TimelineEntry(ticket_id=ticket.id, at=now, kind="reply", actor=f"agent:{agent.sub}", body=message.body)
    repository.add_entry(session, entry)
    await session.flush()
    await outbox.add(
        session,
        TicketReplied(
            source=SOURCE,
            subject=str(ticket.id),
            time=now,
            correlation_id=ticket.id,
            data=TicketRepliedData(
                **_ref(ticket), message_id=entry.id, agent_id=agent.sub, replied_at=now, first_response=first
            ),
        ),
    )
    return ticket


async def resolve(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    request: ResolveRequest,
    agent: Principal,
    outbox: Outbox,
    clock: Clock,
) -> Ticket:
    """Mark the problem solved; this starts the feedback step."""
    ticket = await _locked(session, ticket_id)
    ticket.status = next_status(Status(ticket.status), Action.RESOLVE).value
    now = clock.now()
    ticket.resolved_at = now
    ticket.resolved_by = agent.sub
    ticket.updated_at = now
    repository.add_entry(
        session,
        TimelineEntry(
            ticket_id=ticket.id, at=now, kind="resolved", actor=f"agent:{agent.sub}", body=request.resolution
        ),
    )
    await session.flush()
    await outbox.add(
        session,
        TicketResolved(
            source=SOURCE,
            subject=str(ticket.id),
            time=now,
            correlation_id=ticket.id,
            data=TicketResolvedData(
                **_ref(ticket), resolved_at=now, resolved_by=agent.sub, first_response_at=ticket.first_response_at
            ),
        ),
    )
    return ticket


async def record_assignment(session: AsyncSession, *, data: TicketAssignedData) -> None:
    """Show routing's choice of owner on the ticket (routing owns the decision)."""
    ticket = await _locked(session, data.ticket_id)
    if ticket.assigned_at is not None and ticket.assigned_at > data.assigned_at:
        return  # an older assignment arriving late must not replace a newer one
    ticket.status = next_status(Status(ticket.status), Action.ASSIGN).value
    ticket.assignee_id = data.agent_id
    ticket.assignee_name = data.agent_name
    ticket.department_id = data.department_id
    ticket.department_name = data.department_name
    ticket.assigned_at = data.assigned_at
    repository.add_entry(
        session,
        TimelineEntry(
            ticket_id=ticket.id,
            at=data.assigned_at,
            kind="assigned",
            actor="routing",
            body=f"{data.agent_name} ({data.department_name})",
        ),
    )


async def read(session: AsyncSession, ticket_id: uuid.UUID) -> TicketOut:
    """The ticket as shown to its channel and to agents."""
    ticket = await repository.get(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket with id {ticket_id}", code="ticket_not_found")
    return await to_out(session, ticket)


async def to_out(session: AsyncSession, ticket: Ticket) -> TicketOut:
    """Render a ticket (contact masked) with its timeline."""
    await session.flush()
    entries = await repository.timeline(session, ticket.id)
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
        channel=ticket.channel,
        category=ticket.category,
        need=ticket.need,
        urgency=ticket.urgency,
        subject=ticket.subject,
        description=ticket.description,
        customer=CustomerOut(
            id=ticket.customer_id,
            name=ticket.customer_name,
            contact_masked=mask_contact(ticket.customer_contact),
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
        timeline=[TimelineEntryOut.model_validate(e) for e in entries],
    )
