"""Events intake reacts to."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.tickets import service
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import EventType, TicketAssigned
from ticketloop_shared.messaging.consumer import Handler


async def on_ticket_assigned(session: AsyncSession, event: TicketAssigned) -> None:
    """Show the owner routing chose on the ticket."""
    try:
        await service.record_assignment(session, data=event.data)
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


HANDLERS: dict[str, Handler] = {EventType.TICKET_ASSIGNED: on_ticket_assigned}
