"""Events intake reacts to."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_intake.proactive import domain as proactive
from ticketloop_intake.proactive import service as proactive_tickets
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import (
    CareTaskDue,
    FeedbackLowScore,
    SlaClocksChanged,
    TicketAssigned,
    TicketQueued,
    TicketReassigned,
)
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


@HANDLERS.on_batch(TicketReassigned)
async def on_tickets_reassigned(uow: UnitOfWork[IntakeSettings], events: Sequence[TicketReassigned]) -> None:
    """Show the new owners (an away agent's tickets, an escalation, a new category)."""
    try:
        await service.record_assignments(uow, [event.data for event in events], kind="reassigned")
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on(TicketQueued)
async def on_ticket_queued(uow: UnitOfWork[IntakeSettings], event: TicketQueued) -> None:
    """Show which department's queue the ticket waits in."""
    try:
        await service.record_queued(uow, event.data)
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on_batch(SlaClocksChanged)
async def on_clocks_changed(uow: UnitOfWork[IntakeSettings], events: Sequence[SlaClocksChanged]) -> None:
    """Show sla's clocks and the deadlines they set on their tickets (sla owns every deadline): a
    run of publications in one statement, the newest version of each ticket winning."""
    await service.record_clocks(uow, [event.data for event in events])


@HANDLERS.on(FeedbackLowScore)
async def on_low_score(uow: UnitOfWork[IntakeSettings], event: FeedbackLowScore) -> None:
    """A low score is a problem in itself: open an urgent recovery ticket, linked to the ticket
    the survey was about, so a person calls the customer back (SPEC §3)."""
    linked = await proactive_tickets.linked_ticket(uow, event.data.ticket_id)
    wanted = proactive.recovery_for(event.data, linked_number=linked.number if linked else None)
    await proactive_tickets.open_ticket(uow, wanted, linked=linked)


@HANDLERS.on(CareTaskDue)
async def on_care_task_due(uow: UnitOfWork[IntakeSettings], event: CareTaskDue) -> None:
    """A care contact is due: open a proactive ticket, routed like any other (SPEC §5)."""
    await proactive_tickets.open_ticket(uow, proactive.care_for(event.data))
