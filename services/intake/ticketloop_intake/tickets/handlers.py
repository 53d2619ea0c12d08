"""Events intake reacts to."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import TicketAssigned
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork

HANDLERS = Handlers[IntakeSettings]()


@HANDLERS.on_batch(TicketAssigned)
async def on_tickets_assigned(uow: UnitOfWork[IntakeSettings], events: Sequence[TicketAssigned]) -> None:
    """Show the owners routing chose on their tickets (a run of assignments in one statement;
    an unknown ticket fails the run, and the consumer then parks that one event alone)."""
    try:
        await service.record_assignments(uow, [event.data for event in events])
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc
