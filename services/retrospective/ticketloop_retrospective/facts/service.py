"""The rules of the ticket facts projection: which event owns which columns, and at what time
each fact happened. Flushes only; the consumer's unit of work commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts import repository
from ticketloop_shared.events import (
    ClockOutcome,
    CustomerSegmentChangedData,
    FeedbackReceivedData,
    FeedbackReceivedV2Data,
    SlaClockData,
    SurveyKind,
    TicketAssignedData,
    TicketCreatedData,
    TicketRef,
)


async def record_ticket(
    session: AsyncSession,
    *,
    ref: TicketRef,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    reopened_at: datetime | None = None,
    closed_at: datetime | None = None,
    reply_id: uuid.UUID | None = None,
    repeat_id: uuid.UUID | None = None,
    self_service: bool = False,
    recategorised: bool = False,
) -> None:
    """Learn a ticket's details from any ticket event, and what that event adds: a first
    response, a resolution, a reopen, a close, an agent reply or a repeat contact. Creation and
    recategorisation set the dimensions its SLA cycles are reported under."""
    created = ref if isinstance(ref, TicketCreatedData) else None
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
        reopened_at=reopened_at,
        closed_at=closed_at,
        need=created.need if created else None,
        origin=created.origin.value if created else None,
        expected_resolution_at=created.expected_resolution_at if created else None,
        customer_annual_spend=created.customer_annual_spend if created else None,
        reply_id=reply_id,
        repeat_id=repeat_id,
        self_service=self_service,
    )
    if created is not None or recategorised:
        await repository.sync_cycle_dimensions(session, ticket_id=ref.ticket_id)


async def record_assignment(session: AsyncSession, *, data: TicketAssignedData) -> None:
    """Learn who owns a ticket (possibly before learning anything else about it)."""
    await repository.record_assignment(
        session,
        ticket_id=data.ticket_id,
        assigned_at=data.assigned_at,
        agent_id=data.agent_id,
        department_id=data.department_id,
    )
    await repository.sync_cycle_dimensions(session, ticket_id=data.ticket_id)


async def record_clock_outcome(
    session: AsyncSession, *, data: SlaClockData, outcome: ClockOutcome, reported_at: datetime
) -> None:
    """Learn that an SLA clock was met or breached.

    A met clock counts at the instant it stopped, a breach at the instant it breached; an event
    without that instant counts at its envelope time, which is when sla observed the outcome.
    Every metric and cycle is kept for compliance per metric; the ticket's own row keeps first
    response and resolution of the first cycle, as the weekly figures always counted them.
    """
    at = data.breached_at if outcome is ClockOutcome.BREACHED else data.stopped_at
    await repository.record_cycle(
        session,
        ticket_id=data.ticket_id,
        clock=data.clock.value,
        cycle=data.cycle,
        outcome=outcome,
        at=at or reported_at,
    )
    if data.clock not in repository.REPORTED_CLOCKS or data.cycle != 1:
        # The weekly report counts first response and resolution of a ticket's first cycle; the
        # other metrics are in sla's own state until the review reports them per metric.
        return
    await repository.record_clock(
        session, ticket_id=data.ticket_id, clock=data.clock, outcome=outcome, at=at or reported_at
    )


async def record_answer(session: AsyncSession, *, data: FeedbackReceivedData | FeedbackReceivedV2Data) -> None:
    """Keep every answer's scores; a ticket survey's satisfaction also goes on the ticket's row (a
    relationship survey's answer is about no ticket)."""
    if isinstance(data, FeedbackReceivedV2Data):
        kind = data.kind.value
        scores: dict[str, int | None] = {"csat": data.csat, "nps": data.nps}
        scores.update({dimension.value: score for dimension, score in data.dimensions.items()})
    else:
        kind, scores = SurveyKind.TICKET.value, {"csat": data.csat, "nps": data.nps}
    await repository.record_answer_fact(
        session,
        survey_id=data.survey_id,
        ticket_id=data.ticket_id,
        customer_id=data.customer_id,
        kind=kind,
        scores=scores,
        answered_at=data.answered_at,
    )
    if data.ticket_id is None or data.csat is None:
        return
    await repository.record_answer(
        session, ticket_id=data.ticket_id, csat=data.csat, nps=data.nps, answered_at=data.answered_at
    )


async def record_segment(session: AsyncSession, *, data: CustomerSegmentChangedData) -> None:
    """Learn a customer's segment from then on; their tickets and answers since are re-labelled."""
    if await repository.record_segment(
        session, customer_id=data.customer_id, segment=data.segment, changed_at=data.changed_at
    ):
        await repository.sync_cycle_dimensions(session, customer_id=data.customer_id)


def customers_of_department(department_id: str) -> Select[Any]:
    """The customers a department's staff may read: those with a ticket it holds (a subquery)."""
    return repository.customers_of_department(department_id)


async def customer_in_department(session: AsyncSession, *, customer_id: str, department_id: str) -> bool:
    """A department's staff may read a customer's profile when the customer has a ticket it holds."""
    return await repository.has_ticket_in(session, customer_id=customer_id, department_id=department_id)
