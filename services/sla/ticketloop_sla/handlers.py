"""Events sla reacts to: every ticket event that starts, stops, pauses or re-targets a clock,
routing's placements (which department holds a ticket: who may read its clocks), and
customers' segment changes (policies match on segments). Every run of them is applied
in one call, so a busy partition costs a few statements per poll, not per event."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_shared.events import (
    CustomerSegmentChanged,
    Envelope,
    TicketAcknowledged,
    TicketAssigned,
    TicketClosed,
    TicketConnected,
    TicketCreated,
    TicketFollowedUp,
    TicketMessageReceived,
    TicketPlanCommitted,
    TicketPriorityChanged,
    TicketQueued,
    TicketReassigned,
    TicketRecategorised,
    TicketReopened,
    TicketReplied,
    TicketResolved,
    TicketStatusChanged,
    TicketUpdated,
)
from ticketloop_shared.unit_of_work import Handlers
from ticketloop_sla.clocks import service as clocks
from ticketloop_sla.settings import SlaSettings
from ticketloop_sla.unit import SlaUnit

HANDLERS = Handlers[SlaSettings]()

HANDLED: tuple[type[Envelope], ...] = (
    TicketCreated,
    TicketAssigned,
    TicketReassigned,
    TicketQueued,
    TicketStatusChanged,
    TicketReplied,
    TicketUpdated,
    TicketPlanCommitted,
    TicketMessageReceived,
    TicketPriorityChanged,
    TicketRecategorised,
    TicketResolved,
    TicketFollowedUp,
    TicketReopened,
    TicketClosed,
    TicketAcknowledged,
    TicketConnected,
    CustomerSegmentChanged,
)


@HANDLERS.on_batch(*HANDLED)
async def on_events(uow: SlaUnit, events: Sequence[Envelope]) -> None:
    """Apply a run of events (of any of these types, in partition order) to the clocks of
    their tickets; see `clocks.rules` for which event does what to which metric."""
    await clocks.apply(uow, events)
