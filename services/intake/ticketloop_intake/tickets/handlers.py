"""Events intake reacts to."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.tickets import service
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import EventType, TicketAssigned
from ticketloop_shared.messaging.consumer import Handler
from ticketloop_shared.runtime import Runtime


def handlers(runtime: Runtime) -> dict[str, Handler]:
    """The handler map of intake."""

    async def on_ticket_assigned(session: AsyncSession, event: TicketAssigned) -> None:
        """Show the owner routing chose on the ticket."""
        try:
            await service.record_assignment(session, data=event.data)
        except NotFound as exc:
            raise PermanentEventError(exc.message) from exc

    return {EventType.TICKET_ASSIGNED: on_ticket_assigned}
