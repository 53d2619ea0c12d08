"""Events retrospective consumes: every event of the loop, in any order, any number of times
(the inbox drops redeliveries; the upserts absorb re-emitted facts). One map for the service
(STYLE rule 24): each handler feeds every read model the event concerns, the ticket facts the
reports count and the customer model the segments are decided on, in the same transaction."""

from __future__ import annotations

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


@HANDLERS.on(TicketCreated)
async def on_ticket_created(uow: RetrospectiveUnit, event: TicketCreated) -> None:
    """A new ticket counts as opened in its week and category, and tells who its customer is."""
    await service.record_ticket(uow.session, ref=event.data)
    await customers.ticket_created(uow, event.data)


@HANDLERS.on(TicketReplied)
async def on_ticket_replied(uow: RetrospectiveUnit, event: TicketReplied) -> None:
    """A reply may be the first response, which the response-time figures measure; every agent
    reply counts towards first-contact resolution (resolved with at most one)."""
    await service.record_ticket(
        uow.session, ref=event.data, first_response_at=event.data.replied_at, reply_id=event.data.message_id
    )


@HANDLERS.on(TicketResolved)
async def on_ticket_resolved(uow: RetrospectiveUnit, event: TicketResolved) -> None:
    """A resolution counts in its week and ends the ticket's handling time; it may solve the
    customer's objection or complete a care contact."""
    data = event.data
    await service.record_ticket(
        uow.session,
        ref=data,
        resolved_at=data.resolved_at,
        first_response_at=data.first_response_at,
        self_service=data.self_service,
    )
    await customers.ticket_resolved(uow, data)


@HANDLERS.on(TicketReopened)
async def on_ticket_reopened(uow: RetrospectiveUnit, event: TicketReopened) -> None:
    """A reopen counts against the ticket's resolution (reopen rate, first-contact resolution);
    the customer's problem stands again (and they got in touch about it)."""
    await service.record_ticket(uow.session, ref=event.data, reopened_at=event.data.reopened_at)
    await customers.ticket_reopened(uow, event.data)


@HANDLERS.on(TicketClosed)
async def on_ticket_closed(uow: RetrospectiveUnit, event: TicketClosed) -> None:
    """A closed ticket is solved and leaves the loop; a customer who confirmed it interacted."""
    await service.record_ticket(uow.session, ref=event.data, closed_at=event.data.closed_at)
    await customers.ticket_closed(uow, event.data)


@HANDLERS.on(TicketMessageReceived)
async def on_message_received(uow: RetrospectiveUnit, event: TicketMessageReceived) -> None:
    """The customer wrote: an interaction."""
    await customers.customer_wrote(uow, event.data, at=event.data.received_at)


@HANDLERS.on(TicketRepeatContact)
async def on_repeat_contact(uow: RetrospectiveUnit, event: TicketRepeatContact) -> None:
    """The customer reported the same problem again: a repeat complaint, and an interaction."""
    await service.record_ticket(uow.session, ref=event.data, repeat_id=event.data.message_id)
    await customers.customer_wrote(uow, event.data, at=event.data.contacted_at)


@HANDLERS.on(TicketRecategorised)
async def on_ticket_recategorised(uow: RetrospectiveUnit, event: TicketRecategorised) -> None:
    """The problem type changed: the ticket (and its SLA cycles) count under the new one."""
    await service.record_ticket(uow.session, ref=event.data, recategorised=True)


@HANDLERS.on(TicketAssigned)
async def on_ticket_assigned(uow: RetrospectiveUnit, event: TicketAssigned) -> None:
    """The owner is kept for per-agent and per-department figures; the first starts handling."""
    await service.record_assignment(uow.session, data=event.data)


@HANDLERS.on(TicketReassigned)
async def on_ticket_reassigned(uow: RetrospectiveUnit, event: TicketReassigned) -> None:
    """A new owner (escalation, rebalancing) is the department the ticket now counts under."""
    await service.record_assignment(uow.session, data=event.data)


@HANDLERS.on(SlaMet)
async def on_sla_met(uow: RetrospectiveUnit, event: SlaMet) -> None:
    """A clock stopped in time counts towards SLA compliance."""
    await service.record_clock_outcome(uow.session, data=event.data, outcome=ClockOutcome.MET, reported_at=event.time)


@HANDLERS.on(SlaBreached)
async def on_sla_breached(uow: RetrospectiveUnit, event: SlaBreached) -> None:
    """A breached clock counts against SLA compliance, whatever is reported after it."""
    await service.record_clock_outcome(
        uow.session, data=event.data, outcome=ClockOutcome.BREACHED, reported_at=event.time
    )


@HANDLERS.on(FeedbackReceived)
async def on_feedback_received(uow: RetrospectiveUnit, event: FeedbackReceived) -> None:
    """A survey answer feeds the CSAT and NPS figures and the customer's satisfaction history
    (v1, replayed from older outboxes)."""
    await service.record_answer(uow.session, data=event.data)
    await customers.answered(uow, event.data)


@HANDLERS.on(FeedbackReceivedV2)
async def on_feedback_received_v2(uow: RetrospectiveUnit, event: FeedbackReceivedV2) -> None:
    """A ticket survey's answer feeds the CSAT (and, if asked, NPS) figures, as v1 did; any
    answer feeds the customer's satisfaction history."""
    await service.record_answer(uow.session, data=event.data)
    await customers.answered(uow, event.data)


@HANDLERS.on(FeedbackLowScore)
async def on_low_score(uow: RetrospectiveUnit, event: FeedbackLowScore) -> None:
    """A low score is an explicit objection: the customer is a churn risk until it is put right."""
    await customers.low_score(uow, event.data)


@HANDLERS.on(CustomerSegmentChanged)
async def on_segment_changed(uow: RetrospectiveUnit, event: CustomerSegmentChanged) -> None:
    """Reports count each ticket and answer under the segment its customer had at the time."""
    await service.record_segment(uow.session, data=event.data)


@HANDLERS.on(OrderRecorded)
async def on_order_recorded(uow: RetrospectiveUnit, event: OrderRecorded) -> None:
    """An order (or its new status) is a purchase fact; its customer's spend, growth signals and
    segment follow. A redelivered or older revision changes nothing."""
    if await orders.record_order(uow.session, event.data, settings=uow.settings):
        await customers.order_recorded(uow, event.data)


# feedback.survey_sent (v1 and v2 alike) is deliberately absent: no report uses it yet, so the
# consumer skips it (counted as "ignored") instead of writing an inbox row for nothing. A report
# that needs it registers both versions with the same effect (tests/contract/test_event_versions.py).
