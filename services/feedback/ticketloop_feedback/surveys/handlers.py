"""Events feedback reacts to."""

from __future__ import annotations

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_shared.events import TicketResolved
from ticketloop_shared.unit_of_work import Handlers, UnitOfWork

HANDLERS = Handlers[FeedbackSettings]()


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: UnitOfWork[FeedbackSettings], event: TicketResolved) -> None:
    """Ask the customer how it went, once per ticket."""
    await service.open_survey(uow, ticket=event.data)
