"""What a ticket's own channel is told about it: the facts and the opened text an outbound
message (a webhook to the channel that reported the ticket) carries. Only the channel that owns
the ticket receives these; nothing here goes on a topic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticketloop_intake.customers.service import keys_for_opening, open_field
from ticketloop_intake.tickets import links, repository
from ticketloop_intake.tickets.domain import SlaClocks, Status
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.events import ClockKind, ClockView, TicketAcknowledgedData


@dataclass(frozen=True)
class ChannelFacts:
    """A ticket as its channel sees it, with one timeline entry's text opened (or none)."""

    ticket_id: uuid.UUID
    number: str
    # The pseudonym (what intake files and seals under).
    customer_id: str
    # The channel's own reference for the customer (the pseudonym once erased).
    reference: str
    channel: str
    channel_client_id: uuid.UUID
    status: str
    department_id: str | None
    assignee_id: str | None
    # The customer's contact as the channel gave it (None once erased).
    contact: str | None
    entry_id: uuid.UUID | None
    entry_at: datetime | None
    # The entry's text (None: no entry asked for, a system note's absence, or erased).
    text: str | None
    # The customer's confirm-or-reopen link while the ticket is resolved, and when it expires.
    link: str | None
    link_expires_at: datetime | None
    # The customer's data was erased: nothing personal may be sent.
    erased: bool
    # The deadlines that apply now (sla's clocks; at acceptance, those sla will start).
    acknowledgement_due: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    assignee_name: str | None = None
    department_name: str | None = None


async def channel_client_of(uow: IntakeUnit, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The channel client that reported the ticket (None: no such ticket), from the session when
    this transaction already holds the ticket (it usually does: it just changed it)."""
    ticket = await uow.session.get(Ticket, ticket_id)
    return ticket.channel_client_id if ticket is not None else None


async def channel_facts(
    uow: IntakeUnit, ticket_id: uuid.UUID, *, entry_id: uuid.UUID | None = None, entry_kind: str | None = None
) -> ChannelFacts | None:
    """The facts of a ticket for its channel, with the text of entry `entry_id` (or of the newest
    entry of `entry_kind`); None when intake has no such ticket."""
    session, settings = uow.session, uow.settings
    ticket = await session.get(Ticket, ticket_id)  # from the session when this transaction holds it
    if ticket is None:
        return None
    entry = None
    if entry_id is not None:
        entry = await session.get(TimelineEntry, entry_id)
        if entry is not None and entry.ticket_id != ticket_id:
            entry = None
    elif entry_kind is not None:
        entry = await repository.latest_entry(session, ticket_id, entry_kind)
    cid = ticket.customer_id
    key = (await keys_for_opening(session, [cid], settings))[cid]
    link = expires = None
    if ticket.status == Status.RESOLVED.value and ticket.resolved_at is not None:
        expires = ticket.resolved_at + timedelta(days=settings.reopen_window_days)
        token = links.issue(settings.customer_link_key, ticket.id, ticket.resolved_at)
        link = f"{settings.public_base_url}/v1/customer-links/{token}"
    clocks = None
    if ticket.sla_version is not None and ticket.sla_policy_id is not None and ticket.sla_clocks is not None:
        shown = [ClockView.model_validate(c) for c in ticket.sla_clocks]
        clocks = SlaClocks(policy_id=ticket.sla_policy_id, version=ticket.sla_version, clocks=tuple(shown))
    return ChannelFacts(
        acknowledgement_due=clocks.due(ClockKind.ACKNOWLEDGEMENT) if clocks else None,
        first_response_due=clocks.due(ClockKind.FIRST_RESPONSE) if clocks else None,
        resolution_due=clocks.due(ClockKind.RESOLUTION) if clocks else None,
        assignee_name=ticket.assignee_name,
        department_name=ticket.department_name,
        ticket_id=ticket.id,
        number=ticket.number,
        customer_id=cid,
        reference=open_field(key, cid, "reference", ticket.customer_reference) or cid,
        channel=ticket.channel,
        channel_client_id=ticket.channel_client_id,
        status=ticket.status,
        department_id=ticket.department_id,
        assignee_id=ticket.assignee_id,
        contact=open_field(key, cid, "contact", ticket.customer_contact),
        entry_id=entry.id if entry is not None else None,
        entry_at=entry.at if entry is not None else None,
        text=open_field(key, cid, "body", entry.body) if entry is not None else None,
        link=link,
        link_expires_at=expires,
        erased=key is None,
    )


async def acknowledge(uow: IntakeUnit, ticket_id: uuid.UUID, *, at: datetime, via: str) -> bool:
    """The acknowledgement reached the customer (`via` `webhook` or `read_back`): record it and
    announce `ticket.acknowledged` once (sla meets the acknowledgement clock on it); False when
    it was acknowledged before, a read-back comes after a delivery was queued (only its 2xx
    acknowledges), or intake has no such ticket."""
    return await acknowledge_many(uow, [(ticket_id, at)], via=via) == 1


async def acknowledge_many(uow: IntakeUnit, acknowledged: Sequence[tuple[uuid.UUID, datetime]], *, via: str) -> int:
    """`acknowledge` for a run of `(ticket, instant)`, in two statements whatever its length (the
    webhook worker records a batch of delivered acknowledgements at once: two statements per
    ticket were most of its bookkeeping). The tickets are locked in id order first, as every
    transaction that locks several does; each not yet acknowledged is recorded and announced, in
    the run's order. Returns how many were."""
    at_of: dict[uuid.UUID, datetime] = {}
    for ticket_id, at in acknowledged:
        at_of.setdefault(ticket_id, at)
    if not at_of:
        return 0
    rows = {
        row.id: row
        for row in await repository.acknowledge_many(
            uow.session, list(at_of.items()), via=via, fields=_ACKNOWLEDGED_FIELDS
        )
    }
    for ticket_id, at in at_of.items():
        row = rows.get(ticket_id)
        if row is None:
            continue
        uow.emit(
            TicketAcknowledgedData(
                ticket_id=row.id, **{f: getattr(row, f) for f in _ACKNOWLEDGED_FIELDS}, acknowledged_at=at, via=via
            ),
            time=at,
            subject=row.id,
        )
    return len(rows)


# What `ticket.acknowledged` repeats about its ticket (read back by the batch's update).
_ACKNOWLEDGED_FIELDS = ("number", "channel", "category", "urgency", "customer_id", "created_at")


async def acknowledgement_queued(uow: IntakeUnit, ticket_id: uuid.UUID) -> None:
    """A `ticket.acknowledged` delivery was queued for the ticket's channel: its 2xx, not a
    read-back, will acknowledge it (`acknowledged_via` set, `acknowledged_at` not yet). One
    guarded update, no read first: a read-back that acknowledged the ticket meanwhile wins, and
    one that comes later sees the mark (`acknowledge` locks the row)."""
    await repository.mark_acknowledgement_queued(uow.session, ticket_id)
