"""Events retrospective consumes: every event of the loop, in any order, any number of times
(the inbox drops redeliveries; the upserts absorb re-emitted facts). One map for the service
(STYLE rule 24): each handler feeds every read model the event concerns, the ticket facts the
reports count and the customer model the segments are decided on, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from ticketloop_retrospective.customers import service as customers
from ticketloop_retrospective.facts import service
from ticketloop_retrospective.orders import service as orders
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveUnit
from ticketloop_shared.events import (
    ClockOutcome,
    CustomerSegmentChanged,
    FeedbackLowScore,
    FeedbackReceived,
    FeedbackReceivedV2,
    OrderRecorded,
    SlaBreached,
    SlaMet,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketMessageReceived,
    TicketReassigned,
    TicketRecategorised,
    TicketReopened,
    TicketRepeatContact,
    TicketReplied,
    TicketResolved,
)
from ticketloop_shared.unit_of_work import Handlers

HANDLERS = Handlers[RetrospectiveSettings]()


LoopEvent = (
    TicketCreated
    | TicketReplied
    | TicketResolved
    | TicketReopened
    | TicketClosed
    | TicketMessageReceived
    | TicketRepeatContact
    | TicketRecategorised
    | TicketAssigned
    | TicketReassigned
    | SlaMet
    | SlaBreached
    | FeedbackReceived
    | FeedbackReceivedV2
)


@HANDLERS.on_batch(
    TicketCreated,
    TicketReplied,
    TicketResolved,
    TicketReopened,
    TicketClosed,
    TicketMessageReceived,
    TicketRepeatContact,
    TicketRecategorised,
    TicketAssigned,
    TicketReassigned,
    SlaMet,
    SlaBreached,
    FeedbackReceived,
    FeedbackReceivedV2,
)
async def on_loop_events(uow: RetrospectiveUnit, events: Sequence[LoopEvent]) -> None:
    """A run of the loop's events, in partition order: each teaches the ticket facts and the
    customer model what `_learn` says, gathered for the run and written in a few statements at
    its end; then each customer concerned is decided once."""
    run, known = service.Run(), customers.Run()
    for event in events:
        with uow.caused_by(event):
            await _learn(uow, run, known, event)
    await run.write(uow.session)
    await known.write(uow)


async def _learn(uow: RetrospectiveUnit, run: service.Run, known: customers.Run, event: LoopEvent) -> None:
    """What one event of the loop teaches, by its type."""
    match event:
        case TicketCreated():
            # A new ticket counts as opened in its week and category, and tells who its customer is.
            service.record_ticket(run, ref=event.data)
            customers.ticket_created(uow, known, event.data)
        case TicketReplied():
            # A reply may be the first response, which the response-time figures measure; every
            # agent reply counts towards first-contact resolution (resolved with at most one).
            data = event.data
            service.record_ticket(run, ref=data, first_response_at=data.replied_at, reply_id=data.message_id)
        case TicketResolved():
            # A resolution counts in its week and ends the ticket's handling time; it may solve
            # the customer's objection or complete a care contact.
            resolved = event.data
            service.record_ticket(
                run,
                ref=resolved,
                resolved_at=resolved.resolved_at,
                first_response_at=resolved.first_response_at,
                self_service=resolved.self_service,
            )
            await customers.ticket_resolved(uow, known, resolved)
        case TicketReopened():
            # A reopen counts against the ticket's resolution (reopen rate, first-contact
            # resolution); the customer's problem stands again (and they got in touch about it).
            service.record_ticket(run, ref=event.data, reopened_at=event.data.reopened_at)
            customers.ticket_reopened(uow, known, event.data)
        case TicketClosed():
            # A closed ticket is solved and leaves the loop; a customer who confirmed it interacted.
            service.record_ticket(run, ref=event.data, closed_at=event.data.closed_at)
            customers.ticket_closed(uow, known, event.data)
        case TicketMessageReceived():
            # The customer wrote: an interaction.
            customers.customer_wrote(uow, known, event.data, at=event.data.received_at)
        case TicketRepeatContact():
            # The customer reported the same problem again: a repeat complaint, and an interaction.
            service.record_ticket(run, ref=event.data, repeat_id=event.data.message_id)
            customers.customer_wrote(uow, known, event.data, at=event.data.contacted_at)
        case TicketRecategorised():
            # The problem type changed: the ticket (and its SLA cycles) count under the new one.
            service.record_ticket(run, ref=event.data, recategorised=True)
        case TicketAssigned() | TicketReassigned():
            # The owner is kept for per-agent and per-department figures; the first starts
            # handling; a new owner (escalation, rebalancing) is the department it now counts under.
            service.record_assignment(run, data=event.data)
        case SlaMet():
            # A clock stopped in time counts towards SLA compliance.
            service.record_clock_outcome(run, data=event.data, outcome=ClockOutcome.MET, reported_at=event.time)
        case SlaBreached():
            # A breached clock counts against SLA compliance, whatever is reported after it.
            service.record_clock_outcome(run, data=event.data, outcome=ClockOutcome.BREACHED, reported_at=event.time)
        case FeedbackReceived() | FeedbackReceivedV2():
            # A survey answer (v1 replayed from older outboxes, v2 a ticket's or a relationship
            # survey's) feeds the CSAT (and, if asked, NPS) figures and any answer the customer's
            # satisfaction history.
            service.record_answer(run, data=event.data)
            await customers.answered(uow, known, event.data)


@HANDLERS.on(FeedbackLowScore)
async def on_low_score(uow: RetrospectiveUnit, event: FeedbackLowScore) -> None:
    """A low score is an explicit objection: the customer is a churn risk until it is put right."""
    await customers.low_score(uow, event.data)


@HANDLERS.on_batch(CustomerSegmentChanged)
async def on_segments_changed(uow: RetrospectiveUnit, events: Sequence[CustomerSegmentChanged]) -> None:
    """Reports count each ticket and answer under the segment its customer had at the time (a
    run of changes in a few statements)."""
    await service.record_segments(uow.session, [event.data for event in events])


@HANDLERS.on(OrderRecorded)
async def on_order_recorded(uow: RetrospectiveUnit, event: OrderRecorded) -> None:
    """An order (or its new status) is a purchase fact; its customer's spend, growth signals and
    segment follow. A redelivered or older revision changes nothing."""
    if await orders.record_order(uow.session, event.data, settings=uow.settings):
        await customers.order_recorded(uow, event.data)


# feedback.survey_sent (v1 and v2 alike) is deliberately absent: no report uses it yet, so the
# consumer skips it (counted as "ignored") instead of writing an inbox row for nothing. A report
# that needs it registers both versions with the same effect (tests/contract/test_event_versions.py).
