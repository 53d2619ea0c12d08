"""Events feedback reacts to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.unit import FeedbackUnit
from ticketloop_shared.events import (
    CustomerErased,
    CustomerSegmentChanged,
    TicketAssigned,
    TicketQueued,
    TicketQueuedData,
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


@HANDLERS.on_batch(CustomerSegmentChanged)
async def on_segments_changed(uow: FeedbackUnit, events: Sequence[CustomerSegmentChanged]) -> None:
    """Time the customers' relationship surveys by their latest segments (a run in a few statements)."""
    await service.record_segments(uow, [(event.data, event) for event in events])


@HANDLERS.on_batch(TicketAssigned, TicketReassigned, TicketQueued)
async def on_tickets_placed(
    uow: FeedbackUnit, events: Sequence[TicketAssigned | TicketReassigned | TicketQueued]
) -> None:
    """Routing placed tickets in departments (assigned, reassigned to a new owner perhaps in
    another department, or waiting in a department's queue): that department's staff may read
    the ticket's surveys (a run in one statement)."""
    await service.record_placements(uow, [_placement(event) for event in events])


def _placement(event: TicketAssigned | TicketReassigned | TicketQueued) -> tuple[uuid.UUID, str, datetime]:
    d = event.data
    at = d.queued_at if isinstance(d, TicketQueuedData) else d.assigned_at
    return d.ticket_id, d.department_id, at


@HANDLERS.on(CustomerErased)
async def on_customer_erased(uow: FeedbackUnit, event: CustomerErased) -> None:
    """The customer's personal data was erased at intake: forget what they wrote in surveys."""
    await service.erase_customer(uow, erased=event.data)
