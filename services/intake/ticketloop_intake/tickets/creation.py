"""Opening tickets: a channel's report (the hot path of the whole system), a repeat contact
added to the customer's existing ticket, and a ticket the system opens on its own (a low score's
call-back, a care contact), numbered, sealed and announced like any other."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from ticketloop_intake.channels.service import SYSTEM_CLIENT_ID, SYSTEM_CLIENT_NAME, ChannelClientView
from ticketloop_intake.customers.service import (
    customer_ids_for,
    is_erased,
    key_for_sealing,
    open_field,
    pseudonym_of,
    seal_field,
)
from ticketloop_intake.db import statements
from ticketloop_intake.deadlines import service as deadlines
from ticketloop_intake.idempotency.service import Claim, KeyTaken, claim_key
from ticketloop_intake.orders import service as orders
from ticketloop_intake.tickets import repository
from ticketloop_intake.tickets.domain import (
    SlaClocks,
    Status,
    fingerprint,
    subject_grams,
    subject_numbers,
)
from ticketloop_intake.tickets.lifecycle import (
    Personal,
    TicketView,
    add_customer_message,
    created_data,
    locked,
    ticket_number,
    ticket_ref,
    view,
)
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.repository import NUMBERS, RepeatProbe
from ticketloop_intake.tickets.schemas import (
    ProactiveTicket,
    TicketCreate,
)
from ticketloop_intake.tickets.search_index import ticket_tokens
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.errors import Forbidden, PermanentEventError
from ticketloop_shared.events import (
    TicketOrigin,
    TicketRepeatContactData,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.vocabulary import Channel

log = logging.getLogger(__name__)
# The answer to a report added to the customer's existing ticket: 200, not 201 (nothing created).
REPEAT_STATUS = 200
PROACTIVE_CHANNEL = Channel.PROACTIVE.value


def _reported_ticket(
    report: TicketCreate, *, client_id: uuid.UUID, customer_id: str, number: str, key: bytes, now: datetime
) -> Ticket:
    """The ticket a report becomes, filed under the customer's pseudonym `customer_id`, its
    personal texts (the channel's own customer reference too) sealed with the customer's `key`
    and its subject fingerprinted with it (how a repeat report of the same problem is recognised)."""
    customer = report.customer

    def sealed(field: str, value: str) -> bytes:
        return seal_field(key, customer_id, field, value)

    return Ticket(
        id=new_id(),
        number=number,
        status=Status.PENDING_ASSIGNMENT.value,
        channel=report.channel.value,
        channel_client_id=client_id,
        category=report.category.value,
        need=report.need.value,
        urgency=report.urgency.value,
        subject=sealed("subject", report.subject),
        description=sealed("description", report.description),
        customer_id=customer_id,
        customer_reference=sealed("reference", customer.id),
        customer_name=sealed("name", customer.name),
        customer_contact=sealed("contact", customer.contact) if customer.contact is not None else None,
        customer_since=customer.customer_since,
        customer_annual_spend=customer.annual_spend,
        customer_preferred_channel=customer.preferred_channel.value if customer.preferred_channel else None,
        expected_resolution_at=report.expected_resolution_at,
        required_skills=list(report.required_skills),
        fingerprint=fingerprint(report.subject, key=key),
        subject_grams=subject_grams(report.subject, key=key),
        subject_numbers=subject_numbers(report.subject, key=key),
        version=1,
        self_service=False,
        reopen_count=0,
        live_session=report.live_session,
        origin=TicketOrigin.CUSTOMER.value,
        created_at=now,
        updated_at=now,
    )


async def _first_clocks(uow: IntakeUnit, ticket: Ticket) -> deadlines.FirstClocks:
    """Give a new ticket the clocks sla will start on it (sla's rules, sla's code; see
    `deadlines.service`), so its read-back and acknowledgement carry the deadlines that apply."""
    first = await deadlines.at_acceptance(
        uow,
        channel=ticket.channel,
        category=ticket.category,
        urgency=ticket.urgency,
        need=ticket.need,
        created_at=ticket.created_at,
        status=ticket.status,
        live_session=ticket.live_session,
    )
    shown = SlaClocks(policy_id=first.policy_id, version=deadlines.FIRST_VIEW_VERSION, clocks=tuple(first.clocks))
    due = shown.next_due()
    ticket.sla_clocks = [c.model_dump(mode="json") for c in first.clocks]
    ticket.sla_version = deadlines.FIRST_VIEW_VERSION
    ticket.sla_policy_id = first.policy_id
    ticket.next_due_at, ticket.next_due_clock = (due[0], due[1].value) if due else (None, None)
    return first


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
    number = ticket_number(settings, now, await uow.state[NUMBERS].next(statements(uow)))
    customer = report.customer
    customer_id = pseudonym_of(settings, customer.id)
    key = await key_for_sealing(uow, customer_id)
    ticket = _reported_ticket(report, client_id=client.id, customer_id=customer_id, number=number, key=key, now=now)
    first = await _first_clocks(uow, ticket)
    problem = ticket.fingerprint
    assert problem is not None
    entry = TimelineEntry(id=new_id(), ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{client.name}")
    created = uow.emit(created_data(ticket, first))
    [outbox_row] = uow.claim_outbox_rows()
    probe = None
    if not report.new_ticket and settings.repeat_window_days > 0:
        probe = RepeatProbe(
            customer_id=customer_id,
            category=report.category.value,
            fingerprint=problem,
            grams=ticket.subject_grams or (),
            numbers=ticket.subject_numbers or (),
            resolved_since=now - timedelta(days=settings.repeat_window_days),
            similarity=settings.repeat_similarity,
        )
    words = ticket_tokens(settings.search_key, report.subject, report.description)
    prior = await repository.insert_new(
        statements(uow), ticket, entry, outbox_row=outbox_row, claim=claim, probe=probe, words=words
    )
    if prior is not None:
        return await _repeat_contact(uow, ticket_id=prior, report=report, client=client, claim=claim)
    if uow.observe is not None:
        # The outbox row was claimed by the statement, past the observer: show it the event, so
        # a channel subscribed to `ticket.acknowledged` gets its acknowledgement delivery (written
        # in this unit's transaction; the ticket itself is already committed by the statement,
        # and the session holds it as written, so the fan-out reads nothing back).
        repository.hold_as_written(uow.session, ticket)
        await uow.observe(uow, [created])
    personal = Personal(
        subject=report.subject,
        description=report.description,
        name=customer.name,
        contact=customer.contact,
        bodies={entry.id: None},
        reference=customer.id,
    )
    return TicketView(ticket=ticket, timeline=[entry], personal=personal)


async def _repeat_contact(
    uow: IntakeUnit, *, ticket_id: uuid.UUID, report: TicketCreate, client: ChannelClientView, claim: Claim | None
) -> TicketView:
    """The customer reported a problem they already have: add the report to that ticket as their
    message (reopening it if it was resolved) instead of opening a second one."""
    if claim is not None and not await claim_key(uow.session, claim, resource_id=ticket_id, status_code=REPEAT_STATUS):
        raise KeyTaken(claim.key)
    ticket = await locked(uow.session, ticket_id)
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
    return as_seen_by(await view(uow.session, ticket, uow.settings), client=client, report=report)


def as_seen_by(found: TicketView, *, client: ChannelClientView, report: TicketCreate) -> TicketView:
    """A repeat contact as the reporting channel is answered: the ticket as it stands, marked a
    repeat. When another channel client opened it (the customer wrote on another channel), this
    one is shown only its own report and entries: channel clients never read each other's
    tickets, and a customer reference and a similar subject must not be a way to do so."""
    if found.ticket.channel_client_id == client.id:
        return replace(found, repeat_contact=True)
    mine = [e for e in found.timeline if e.actor == f"channel:{client.name}"]
    customer = report.customer
    personal = Personal(
        subject=report.subject,
        description=report.description,
        name=customer.name,
        contact=customer.contact,
        bodies={e.id: found.personal.bodies.get(e.id) for e in mine},
        reference=customer.id,
    )
    kept = {e.id for e in mine}
    files = {entry: listed for entry, listed in found.attachments.items() if entry in kept}
    return replace(found, timeline=mine, personal=personal, attachments=files, repeat_contact=True, other_channel=True)


@dataclass(frozen=True)
class _Customer:
    """Whom a proactive ticket is for, as intake holds them (sealed)."""

    reference: bytes | None
    name: bytes
    contact: bytes | None
    since: date | None
    annual_spend: float | None
    preferred_channel: str | None


async def open_proactive(uow: IntakeUnit, wanted: ProactiveTicket, *, linked: Ticket | None = None) -> Ticket | None:
    """File `wanted` for its customer; None when its survey or task already has its ticket, or
    the customer's data was erased (the system does not contact an erased customer)."""
    session = uow.session
    if await repository.by_origin(session, wanted.origin.value, wanted.origin_id) is not None:
        return None
    settings = uow.settings
    # The customer as intake files them (another service may still hold the reference an event
    # carried before pseudonyms): from their latest ticket, else (a customer who never filed one,
    # e.g. contacted after an order) from their latest order.
    ids = customer_ids_for(settings, wanted.customer_id)
    known = linked or await repository.latest_of_customer(session, ids)
    order = None if known is not None else await orders.latest_of_customer(session, ids)
    customer_id = known.customer_id if known else order.customer_id if order else wanted.customer_id
    if await is_erased(session, customer_id):
        log.info("proactive ticket skipped: customer erased", extra={"origin": wanted.origin.value})
        return None
    if known is None and (order is None or order.customer_reference is None):
        # Nobody to call, nothing to retry.
        raise PermanentEventError(f"intake has no ticket or order of customer {wanted.customer_id!r} to contact")
    now = uow.now()
    seq = await uow.state[NUMBERS].next(statements(uow))
    key = await key_for_sealing(uow, customer_id)

    def sealed(field: str, value: str) -> bytes:
        return seal_field(key, customer_id, field, value)

    if known is not None:
        # Copied sealed: the seal binds customer and field, not the ticket.
        customer = _Customer(
            known.customer_reference,
            known.customer_name,
            known.customer_contact,
            known.customer_since,
            known.customer_annual_spend,
            known.customer_preferred_channel,
        )
    else:
        assert order is not None and order.customer_reference is not None
        # The shop's reference is all intake was told of this customer: their name for the agent.
        reference = open_field(key, customer_id, "reference", order.customer_reference) or customer_id
        customer = _Customer(order.customer_reference, sealed("name", reference), None, None, None, None)

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
        customer_id=customer_id,
        customer_reference=customer.reference,
        customer_name=customer.name,
        customer_contact=customer.contact,
        customer_since=customer.since,
        customer_annual_spend=customer.annual_spend,
        customer_preferred_channel=wanted.preferred_channel or customer.preferred_channel,
        required_skills=[],
        fingerprint=None,
        version=1,
        self_service=False,
        reopen_count=0,
        live_session=False,
        origin=wanted.origin.value,
        origin_id=wanted.origin_id,
        linked_ticket_id=linked.id if linked is not None else None,
        due_at=wanted.due_at,
        created_at=now,
        updated_at=now,
    )
    first = None
    if wanted.origin is TicketOrigin.CARE:
        # A care contact is a task: no sla clocks (sla starts none either); its due date orders it.
        ticket.sla_clocks, ticket.next_due_at = [], wanted.due_at
    else:
        first = await _first_clocks(uow, ticket)
    session.add(ticket)
    repository.add_words(session, ticket.id, ticket_tokens(settings.search_key, wanted.subject, wanted.description))
    repository.add_entry(
        session,
        TimelineEntry(id=new_id(), ticket_id=ticket.id, at=now, kind="created", actor=f"channel:{SYSTEM_CLIENT_NAME}"),
    )
    await session.flush()
    uow.emit(created_data(ticket, first))
    return ticket


async def linked_ticket(uow: IntakeUnit, ticket_id: uuid.UUID | None) -> Ticket | None:
    """The ticket a low score is about, if intake has it."""
    return None if ticket_id is None else await repository.get(uow.session, ticket_id)
