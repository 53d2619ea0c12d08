"""Events feedback reacts to."""

from __future__ import annotations

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.unit import FeedbackUnit
from ticketloop_shared.events import (
    CustomerErased,
    CustomerSegmentChanged,
    TicketAssigned,
    TicketQueued,
    TicketReassigned,
    TicketReopened,
    TicketResolved,
)
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


@HANDLERS.on(TicketAssigned)
async def on_ticket_assigned(uow: FeedbackUnit, event: TicketAssigned) -> None:
    """The ticket's department: its staff may read the ticket's surveys."""
    d = event.data
    await service.record_placement(uow, ticket_id=d.ticket_id, department_id=d.department_id, at=d.assigned_at)


@HANDLERS.on(TicketReassigned)
async def on_ticket_reassigned(uow: FeedbackUnit, event: TicketReassigned) -> None:
    """A new owner, perhaps in another department (a transfer): that department's staff now."""
    d = event.data
    await service.record_placement(uow, ticket_id=d.ticket_id, department_id=d.department_id, at=d.assigned_at)


@HANDLERS.on(TicketQueued)
async def on_ticket_queued(uow: FeedbackUnit, event: TicketQueued) -> None:
    """Waiting in a department's queue (new, or transferred there): that department's staff."""
    d = event.data
    await service.record_placement(uow, ticket_id=d.ticket_id, department_id=d.department_id, at=d.queued_at)


@HANDLERS.on(CustomerErased)
async def on_customer_erased(uow: FeedbackUnit, event: CustomerErased) -> None:
    """The customer's personal data was erased at intake: forget what they wrote in surveys."""
    await service.erase_customer(uow, erased=event.data)
