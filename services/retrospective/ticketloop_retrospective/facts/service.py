"""The rules of the ticket facts projection: which event owns which columns, and at what time
each fact happened. Flushes only; the consumer's unit of work commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts import repository
from ticketloop_shared.events import (
    ClockOutcome,
    FeedbackReceivedData,
    FeedbackReceivedV2Data,
    SlaClockData,
    TicketAssignedData,
    TicketRef,
)


async def record_ticket(
    session: AsyncSession,
    *,
    ref: TicketRef,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
) -> None:
    """Learn a ticket's details from any ticket event, and its first response or resolution."""
    await repository.record_ticket(
        session,
        ticket_id=ref.ticket_id,
        number=ref.number,
        channel=ref.channel,
        category=ref.category,
        urgency=ref.urgency,
        customer_id=ref.customer_id,
        created_at=ref.created_at,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
    )


async def record_assignment(session: AsyncSession, *, data: TicketAssignedData) -> None:
    """Learn who owns a ticket (possibly before learning anything else about it)."""
    await repository.record_assignment(
        session,
        ticket_id=data.ticket_id,
        assigned_at=data.assigned_at,
        agent_id=data.agent_id,
        department_id=data.department_id,
    )


async def record_clock_outcome(
    session: AsyncSession, *, data: SlaClockData, outcome: ClockOutcome, reported_at: datetime
) -> None:
    """Learn that an SLA clock was met or breached.

    A met clock counts at the instant it stopped, a breach at the instant it breached; an event
    without that instant counts at its envelope time, which is when sla observed the outcome.
    """
    if data.clock not in repository.REPORTED_CLOCKS or data.cycle != 1:
        # The weekly report counts first response and resolution of a ticket's first cycle; the
        # other metrics are in sla's own state until the review reports them per metric.
        return
    at = data.breached_at if outcome is ClockOutcome.BREACHED else data.stopped_at
    await repository.record_clock(
        session, ticket_id=data.ticket_id, clock=data.clock, outcome=outcome, at=at or reported_at
    )


async def record_answer(session: AsyncSession, *, data: FeedbackReceivedData | FeedbackReceivedV2Data) -> None:
    """Learn how satisfied the customer was with a ticket; a relationship survey's answer is about
    no ticket and an answer without a satisfaction score has nothing for the ticket's facts."""
    if data.ticket_id is None or data.csat is None:
        return
    await repository.record_answer(
        session, ticket_id=data.ticket_id, csat=data.csat, nps=data.nps, answered_at=data.answered_at
    )
