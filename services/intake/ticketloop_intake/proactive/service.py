"""Opening a proactive ticket: numbered, sealed and announced like any other, so routing
assigns it and sla measures it; at most once per survey or care task."""

from __future__ import annotations

import logging
import uuid

from ticketloop_intake.channels.service import SYSTEM_CLIENT_ID, SYSTEM_CLIENT_NAME
from ticketloop_intake.customers import repository as customers
from ticketloop_intake.customers.service import KEYS, seal_field, statements
from ticketloop_intake.proactive.domain import ProactiveTicket
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import Status
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.repository import NUMBERS
from ticketloop_intake.tickets.service import created_data, ticket_number
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.ids import new_id
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_shared.vocabulary import Channel

log = logging.getLogger(__name__)
PROACTIVE_CHANNEL = Channel.PROACTIVE.value


async def open_ticket(
    uow: UnitOfWork[IntakeSettings], wanted: ProactiveTicket, *, linked: Ticket | None = None
) -> Ticket | None:
    """File `wanted` for its customer; None when its survey or task already has its ticket, or
    the customer's data was erased (the system does not contact an erased customer)."""
    session = uow.session
    if await repository.by_origin(session, wanted.origin.value, wanted.origin_id) is not None:
        return None
    if await customers.is_erased(session, wanted.customer_id):
        log.info("proactive ticket skipped: customer erased", extra={"origin": wanted.origin.value})
        return None
    known = linked or await customers.latest_ticket(session, wanted.customer_id)
    if known is None:
        # Intake knows customers only through their tickets: nobody to call, nothing to retry.
        raise PermanentEventError(f"intake has no ticket of customer {wanted.customer_id!r} to contact them from")
    settings, now = uow.settings, uow.now()
    seq = await NUMBERS.next(statements(uow))
    key = await KEYS.for_sealing(uow, wanted.customer_id)

    def sealed(field: str, value: str) -> bytes:
        return seal_field(key, wanted.customer_id, field, value)

    ticket = Ticket(
        id=new_id(),
        number=ticket_number(settings, now, seq),
        status=Status.PENDING_ASSIGNMENT.value,
        channel=PROACTIVE_CHANNEL,
        channel_client_id=SYSTEM_CLIENT_ID,
        category=wanted.category,
        need=wanted.need,
        urgency=wanted.urgency,
        subject=sealed("subject", wanted.subject),
        description=sealed("description", wanted.description),
        customer_id=wanted.customer_id,
        # Copied sealed: the seal binds customer and field, not the ticket.
        customer_name=known.customer_name,
        customer_contact=known.customer_contact,
        customer_since=known.customer_since,
        customer_annual_spend=known.customer_annual_spend,
        customer_preferred_channel=wanted.preferred_channel or known.customer_preferred_channel,
        required_skills=[],
        fingerprint=None,
        self_service=False,
        reopen_count=0,
        live_session=False,
        origin=wanted.origin.value,
        origin_id=wanted.origin_id,
        linked_ticket_id=linked.id if linked is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    repository.add_entry(
        session,
        TimelineEntry(id=new_id(), ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{SYSTEM_CLIENT_NAME}"),
    )
    await session.flush()
    uow.emit(created_data(ticket))
    return ticket


async def linked_ticket(uow: UnitOfWork[IntakeSettings], ticket_id: uuid.UUID | None) -> Ticket | None:
    """The ticket a low score is about, if intake has it."""
    return None if ticket_id is None else await repository.get(uow.session, ticket_id)
