"""Events routing reacts to."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import service
from ticketloop_shared.events import EventType, TicketCreated, TicketResolved
from ticketloop_shared.messaging.consumer import Handler
from ticketloop_shared.runtime import Runtime


def handlers(runtime: Runtime) -> dict[str, Handler]:
    """The handler map, bound to the running service's outbox and clock."""

    async def on_ticket_created(session: AsyncSession, event: TicketCreated) -> None:
        """Assign the new ticket."""
        await service.assign(session, event=event, outbox=runtime.outbox, clock=runtime.clock)

    async def on_ticket_resolved(session: AsyncSession, event: TicketResolved) -> None:
        """Free the agent's capacity."""
        await service.release(session, event=event)

    return {EventType.TICKET_CREATED: on_ticket_created, EventType.TICKET_RESOLVED: on_ticket_resolved}
