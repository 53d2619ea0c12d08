"""Events routing reacts to: one map from event class to handler, for the whole service."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_routing.assignments import service as assignments
from ticketloop_routing.customers import service as customers
from ticketloop_routing.settings import RoutingSettings
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.events import (
    CustomerSegmentChanged,
    SlaBreached,
    SlaEscalated,
    TicketClosed,
    TicketCreated,
    TicketPlanCommitted,
    TicketPriorityChanged,
    TicketRecategorised,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketUpdated,
)
from ticketloop_shared.unit_of_work import Handlers

HANDLERS = Handlers[RoutingSettings]()


@HANDLERS.on_batch(TicketCreated)
async def on_tickets_created(uow: RoutingUnit, events: Sequence[TicketCreated]) -> None:
    """Assign each new ticket of a run, or queue it (the run's state read in one statement)."""
    await assignments.assign_many(uow, [(event.data, event) for event in events])


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: RoutingUnit, event: TicketResolved) -> None:
    """Free the owner's capacity for the next waiting ticket (unless a later reopen came first)."""
    await assignments.release(uow, ticket_id=event.data.ticket_id, at=event.data.resolved_at)


@HANDLERS.on(TicketClosed)
async def on_ticket_closed(uow: RoutingUnit, event: TicketClosed) -> None:
    """A ticket closed without being resolved first frees its owner too (else nothing is left to free)."""
    await assignments.release(uow, ticket_id=event.data.ticket_id, at=event.data.closed_at)


@HANDLERS.on(TicketReopened)
async def on_ticket_reopened(uow: RoutingUnit, event: TicketReopened) -> None:
    """Give the reopened ticket an owner again, its previous one first (parked until routing knows
    the ticket; a stale one, older than a close applied, is dropped)."""
    await assignments.reopen(uow, event=event)


@HANDLERS.on(TicketPriorityChanged)
async def on_ticket_priority_changed(uow: RoutingUnit, event: TicketPriorityChanged) -> None:
    """Re-score the ticket if it is waiting (parked until routing knows the ticket)."""
    await assignments.reprioritise(uow, event=event)


@HANDLERS.on(TicketRecategorised)
async def on_ticket_recategorised(uow: RoutingUnit, event: TicketRecategorised) -> None:
    """Move the ticket if another department owns its new category (parked until routing knows
    the ticket)."""
    await assignments.recategorise(uow, event=event)


@HANDLERS.on(TicketReplied)
async def on_ticket_replied(uow: RoutingUnit, event: TicketReplied) -> None:
    """The owner replied: the ticket is not abandoned."""
    await assignments.touch(uow, ticket_id=event.data.ticket_id, agent_id=event.data.agent_id, at=event.data.replied_at)


@HANDLERS.on(TicketUpdated)
async def on_ticket_updated(uow: RoutingUnit, event: TicketUpdated) -> None:
    """The owner sent a progress update: the ticket is not abandoned."""
    await assignments.touch(uow, ticket_id=event.data.ticket_id, agent_id=event.data.agent_id, at=event.data.updated_at)


@HANDLERS.on(TicketPlanCommitted)
async def on_ticket_plan_committed(uow: RoutingUnit, event: TicketPlanCommitted) -> None:
    """The owner committed a plan: the ticket is not abandoned."""
    await assignments.touch(
        uow, ticket_id=event.data.ticket_id, agent_id=event.data.agent_id, at=event.data.committed_at
    )


@HANDLERS.on_batch(SlaBreached, SlaEscalated)
async def on_sla_events(uow: RoutingUnit, events: Sequence[SlaBreached | SlaEscalated]) -> None:
    """A breach lifts a waiting ticket up its queue; a supervisor escalation step gives the owned
    ticket to the department's supervisor (a run of them, in order, its waiting tickets found in
    one statement)."""
    await assignments.on_sla_events(uow, events)


@HANDLERS.on_batch(CustomerSegmentChanged)
async def on_segments_changed(uow: RoutingUnit, events: Sequence[CustomerSegmentChanged]) -> None:
    """Rank the customer's next tickets by their segment (VIPs first, account manager first)."""
    await customers.record_segments(uow.session, [event.data for event in events])
