"""The rules of the ticket facts projection: which event owns which columns, and at what time
each fact happened. A run of events is gathered into rows (`Run`) and written in a few
statements; flushes only, the consumer's unit of work commits."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts import repository
from ticketloop_shared.events import (
    ClockKind,
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


@dataclass
class Wave:
    """What events of a run teach the facts, at most one event per ticket (or per survey without
    a ticket), as rows to write: one statement per kind of row, so the rows of different tickets,
    which never meet, are written together."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    cycles: dict[ClockOutcome, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    clocks: dict[tuple[ClockKind, ClockOutcome], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    answer_facts: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    # Tickets whose dimensions may have changed: their SLA cycles follow once the rows are written.
    synced: list[uuid.UUID] = field(default_factory=list)

    async def write(self, session: AsyncSession) -> None:
        """Upsert every row, then copy the changed dimensions onto the cycles (each event's own
        order: a ticket's cycles follow its dimensions after they are written)."""
        await repository.record_tickets(session, self.tickets)
        await repository.record_assignments(session, self.assignments)
        for outcome, rows in self.cycles.items():
            await repository.record_cycles(session, outcome=outcome, rows=rows)
        for (clock, outcome), rows in self.clocks.items():
            await repository.record_clocks(session, clock=clock, outcome=outcome, rows=rows)
        await repository.record_answer_facts(session, self.answer_facts)
        await repository.record_answers(session, self.answers)
        await repository.sync_cycle_dimensions(session, ticket_ids=self.synced)


class Run:
    """The facts of a run of events, written in a few statements whatever its length, with the
    result of writing them one by one: a ticket's n-th event of the run goes into the n-th wave,
    so each wave holds a ticket once, and the waves, written in turn, keep each ticket's order."""

    def __init__(self) -> None:
        self.waves: list[Wave] = []
        self._seen: Counter[uuid.UUID] = Counter()

    def wave(self, key: uuid.UUID) -> Wave:
        """Where the next event about `key` (its ticket, or its survey without one) goes."""
        index = self._seen[key]
        self._seen[key] += 1
        if index == len(self.waves):
            self.waves.append(Wave())
        return self.waves[index]

    async def write(self, session: AsyncSession) -> None:
        """Write the waves in turn (flushes only; the consumer's unit of work commits)."""
        for wave in self.waves:
            await wave.write(session)


def record_ticket(
    run: Run,
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
    wave = run.wave(ref.ticket_id)
    wave.tickets.append(
        {
            "ticket_id": ref.ticket_id,
            "number": ref.number,
            "channel": ref.channel,
            "category": ref.category,
            "urgency": ref.urgency,
            "customer_id": ref.customer_id,
            "created_at": ref.created_at,
            "first_response_at": first_response_at,
            "resolved_at": resolved_at,
            "reopened_at": reopened_at,
            "closed_at": closed_at,
            "need": created.need if created else None,
            "origin": created.origin.value if created else None,
            "expected_resolution_at": created.expected_resolution_at if created else None,
            "customer_annual_spend": created.customer_annual_spend if created else None,
            "reply_id": reply_id,
            "repeat_id": repeat_id,
            "self_service": self_service,
        }
    )
    if created is not None or recategorised:
        wave.synced.append(ref.ticket_id)


def record_assignment(run: Run, *, data: TicketAssignedData) -> None:
    """Learn who owns a ticket (possibly before learning anything else about it)."""
    wave = run.wave(data.ticket_id)
    wave.assignments.append(
        {
            "ticket_id": data.ticket_id,
            "assigned_at": data.assigned_at,
            "agent_id": data.agent_id,
            "department_id": data.department_id,
        }
    )
    wave.synced.append(data.ticket_id)


def record_clock_outcome(run: Run, *, data: SlaClockData, outcome: ClockOutcome, reported_at: datetime) -> None:
    """Learn that an SLA clock was met or breached.

    A met clock counts at the instant it stopped, a breach at the instant it breached; an event
    without that instant counts at its envelope time, which is when sla observed the outcome.
    Every metric and cycle is kept for compliance per metric; the ticket's own row keeps first
    response and resolution of the first cycle, as the weekly figures always counted them.
    """
    at = (data.breached_at if outcome is ClockOutcome.BREACHED else data.stopped_at) or reported_at
    wave = run.wave(data.ticket_id)
    wave.cycles[outcome].append({"ticket_id": data.ticket_id, "clock": data.clock.value, "cycle": data.cycle, "at": at})
    if data.clock not in repository.REPORTED_CLOCKS or data.cycle != 1:
        # The weekly report counts first response and resolution of a ticket's first cycle; the
        # other metrics are in sla's own state until the review reports them per metric.
        return
    wave.clocks[(data.clock, outcome)].append({"ticket_id": data.ticket_id, "at": at})


def record_answer(run: Run, *, data: FeedbackReceivedData | FeedbackReceivedV2Data) -> None:
    """Keep every answer's scores; a ticket survey's satisfaction also goes on the ticket's row (a
    relationship survey's answer is about no ticket)."""
    if isinstance(data, FeedbackReceivedV2Data):
        kind = data.kind.value
        scores: dict[str, int | None] = {"csat": data.csat, "nps": data.nps}
        scores.update({dimension.value: score for dimension, score in data.dimensions.items()})
    else:
        kind, scores = SurveyKind.TICKET.value, {"csat": data.csat, "nps": data.nps}
    wave = run.wave(data.ticket_id or data.survey_id)
    wave.answer_facts.append(
        {
            "survey_id": data.survey_id,
            "ticket_id": data.ticket_id,
            "customer_id": data.customer_id,
            "kind": kind,
            "answered_at": data.answered_at,
            **{score: scores.get(score) for score in repository.SCORES},
        }
    )
    if data.ticket_id is None or data.csat is None:
        return
    wave.answers.append(
        {"ticket_id": data.ticket_id, "csat": data.csat, "nps": data.nps, "answered_at": data.answered_at}
    )


async def record_segments(session: AsyncSession, changes: Sequence[CustomerSegmentChangedData]) -> None:
    """Learn customers' segments from then on (a run of changes, in a few statements, with the
    result of learning them one by one); their tickets and answers since are re-labelled, and
    their SLA cycles follow."""
    rows = [{"customer_id": c.customer_id, "changed_at": c.changed_at, "segment": c.segment} for c in changes]
    customers = await repository.record_segments(session, rows)
    await repository.sync_cycle_dimensions(session, customer_ids=customers)


def customers_of_department(department_id: str) -> Select[Any]:
    """The customers a department's staff may read: those with a ticket it holds (a subquery)."""
    return repository.customers_of_department(department_id)


async def customer_in_department(session: AsyncSession, *, customer_id: str, department_id: str) -> bool:
    """A department's staff may read a customer's profile when the customer has a ticket it holds."""
    return await repository.has_ticket_in(session, customer_id=customer_id, department_id=department_id)
