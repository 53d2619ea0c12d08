"""Events intake reacts to."""

from __future__ import annotations

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import TicketAssigned
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork

HANDLERS = Handlers[IntakeSettings]()


@HANDLERS.on(TicketAssigned)
async def on_ticket_assigned(uow: UnitOfWork[IntakeSettings], event: TicketAssigned) -> None:
    """Show the owner routing chose on the ticket."""
    try:
        await service.record_assignment(uow, data=event.data)
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc
