"""Events retrospective projects into ticket facts: every event of the loop, in any order, any
number of times (the inbox drops redeliveries; the upserts absorb re-emitted facts)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts import service
from ticketloop_shared.events import (
    ClockOutcome,
    EventType,
    FeedbackReceived,
    SlaBreached,
    SlaMet,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketResolved,
)
from ticketloop_shared.messaging.consumer import Handler


async def on_ticket_created(session: AsyncSession, event: TicketCreated) -> None:
    """A new ticket counts as opened in its week and category."""
    await service.record_ticket(session, ref=event.data)


async def on_ticket_replied(session: AsyncSession, event: TicketReplied) -> None:
    """A reply may be the first response, which the response-time figures measure."""
    await service.record_ticket(session, ref=event.data, first_response_at=event.data.replied_at)


async def on_ticket_resolved(session: AsyncSession, event: TicketResolved) -> None:
    """A resolution counts in its week and ends the ticket's handling time."""
    data = event.data
    await service.record_ticket(
        session, ref=data, resolved_at=data.resolved_at, first_response_at=data.first_response_at
    )


async def on_ticket_assigned(session: AsyncSession, event: TicketAssigned) -> None:
    """The owner is kept for per-agent and per-department figures."""
    await service.record_assignment(session, data=event.data)


async def on_sla_met(session: AsyncSession, event: SlaMet) -> None:
    """A clock stopped in time counts towards SLA compliance."""
    await service.record_clock_outcome(session, data=event.data, outcome=ClockOutcome.MET, reported_at=event.time)


async def on_sla_breached(session: AsyncSession, event: SlaBreached) -> None:
    """A breached clock counts against SLA compliance, whatever is reported after it."""
    await service.record_clock_outcome(session, data=event.data, outcome=ClockOutcome.BREACHED, reported_at=event.time)


async def on_feedback_received(session: AsyncSession, event: FeedbackReceived) -> None:
    """A survey answer feeds the CSAT and NPS figures."""
    await service.record_answer(session, data=event.data)


# feedback.survey_sent is deliberately absent: no report uses it yet, so the consumer skips it
# (counted as "ignored") instead of writing an inbox row for nothing.
HANDLERS: dict[str, Handler] = {
    EventType.TICKET_CREATED: on_ticket_created,
    EventType.TICKET_REPLIED: on_ticket_replied,
    EventType.TICKET_RESOLVED: on_ticket_resolved,
    EventType.TICKET_ASSIGNED: on_ticket_assigned,
    EventType.SLA_MET: on_sla_met,
    EventType.SLA_BREACHED: on_sla_breached,
    EventType.FEEDBACK_RECEIVED: on_feedback_received,
}
