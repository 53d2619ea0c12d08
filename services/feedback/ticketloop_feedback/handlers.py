"""Events feedback reacts to."""

from __future__ import annotations

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.unit import FeedbackUnit
from ticketloop_shared.events import CustomerSegmentChanged, TicketReopened, TicketResolved
from ticketloop_shared.unit_of_work import Handlers

HANDLERS = Handlers[FeedbackSettings]()


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: FeedbackUnit, event: TicketResolved) -> None:
    """Schedule the survey of this resolution (once, however often it is delivered)."""
    await service.schedule_ticket_survey(uow, ticket=event.data)


@HANDLERS.on(TicketReopened)
async def on_ticket_reopened(uow: FeedbackUnit, event: TicketReopened) -> None:
    """The problem is not solved after all: withdraw the survey not answered yet."""
    await service.withdraw_for_reopen(uow, reopened=event.data)


@HANDLERS.on(CustomerSegmentChanged)
async def on_segment_changed(uow: FeedbackUnit, event: CustomerSegmentChanged) -> None:
    """Time the customer's relationship surveys by their latest segment."""
    await service.record_segment(uow, change=event.data)
