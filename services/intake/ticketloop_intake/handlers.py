"""Events intake reacts to: one map, by event class, for the whole service."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_intake.deadlines import service as deadlines
from ticketloop_intake.proactive import service as proactive
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.unit import IntakeUnit
from ticketloop_intake.webhooks import fanout as webhooks
from ticketloop_shared.errors import NotFound, PermanentEventError
from ticketloop_shared.events import (
    CareTaskDue,
    FeedbackLowScore,
    SlaCalendarChanged,
    SlaClocksChanged,
    SlaPolicyChanged,
    SurveySent,
    SurveySentV2,
    TicketAssigned,
    TicketQueued,
    TicketReassigned,
)
from ticketloop_shared.unit_of_work import Handlers

HANDLERS = Handlers[IntakeSettings]()


@HANDLERS.on_batch(TicketAssigned)
async def on_tickets_assigned(uow: IntakeUnit, events: Sequence[TicketAssigned]) -> None:
    """Show the owners routing chose on their tickets (a run of assignments in one statement;
    an unknown ticket fails the run, and the consumer then parks that one event alone)."""
    try:
        await tickets.record_assignments(uow, [event.data for event in events])
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on_batch(TicketReassigned)
async def on_tickets_reassigned(uow: IntakeUnit, events: Sequence[TicketReassigned]) -> None:
    """Show the new owners (an away agent's tickets, an escalation, a new category)."""
    try:
        await tickets.record_assignments(uow, [event.data for event in events], kind="reassigned")
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on(TicketQueued)
async def on_ticket_queued(uow: IntakeUnit, event: TicketQueued) -> None:
    """Show which department's queue the ticket waits in."""
    try:
        await tickets.record_queued(uow, event.data)
    except NotFound as exc:
        raise PermanentEventError(exc.message) from exc


@HANDLERS.on_batch(SlaClocksChanged)
async def on_clocks_changed(uow: IntakeUnit, events: Sequence[SlaClocksChanged]) -> None:
    """Show sla's clocks and the deadlines they set on their tickets (sla owns every deadline): a
    run of publications in one statement, the newest version of each ticket winning."""
    await tickets.record_clocks(uow, [event.data for event in events])


@HANDLERS.on_batch(SlaPolicyChanged)
async def on_policies_changed(uow: IntakeUnit, events: Sequence[SlaPolicyChanged]) -> None:
    """Keep sla's policies, to compute a new ticket's first deadlines as sla will."""
    await deadlines.keep_policies(uow, [event.data for event in events])


@HANDLERS.on_batch(SlaCalendarChanged)
async def on_calendars_changed(uow: IntakeUnit, events: Sequence[SlaCalendarChanged]) -> None:
    """Keep sla's business calendars, for the same reason."""
    await deadlines.keep_calendars(uow, [event.data for event in events])


@HANDLERS.on(FeedbackLowScore)
async def on_low_score(uow: IntakeUnit, event: FeedbackLowScore) -> None:
    """A low score is a problem in itself: open an urgent recovery ticket, linked to the ticket
    the survey was about, so a person calls the customer back (SPEC §3)."""
    await proactive.call_back(uow, event.data)


@HANDLERS.on(CareTaskDue)
async def on_care_task_due(uow: IntakeUnit, event: CareTaskDue) -> None:
    """A care contact is due: open a proactive ticket, routed like any other (SPEC §5)."""
    await proactive.care_contact(uow, event.data)


@HANDLERS.on(SurveySentV2)
async def on_survey_due(uow: IntakeUnit, event: SurveySentV2) -> None:
    """A ticket's survey fell due: its channel, if subscribed, gets `survey.due` (the link is
    fetched from feedback when the delivery is sent, never carried here)."""
    await webhooks.survey_due(uow, event)


@HANDLERS.on(SurveySent)
async def on_old_survey_due(uow: IntakeUnit, event: SurveySent) -> None:
    """`feedback.survey_sent.v1` is no longer emitted (it carried the link on the topic); an old
    one replayed is left to the notifier, whose list holds every survey still to deliver."""
