"""Events routing reacts to."""

from __future__ import annotations

from ticketloop_routing.assignments import service
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.events import TicketCreated, TicketResolved
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork

HANDLERS = Handlers[RoutingSettings]()


@HANDLERS.on(TicketCreated)
async def on_ticket_created(uow: UnitOfWork[RoutingSettings], event: TicketCreated) -> None:
    """Assign the new ticket."""
    await service.assign(uow, data=event.data)


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: UnitOfWork[RoutingSettings], event: TicketResolved) -> None:
    """Free the agent's capacity."""
    await service.release(uow, data=event.data)
