"""All SQL of reports: each figure is aggregated in PostgreSQL over the read models.

Every figure that counts tickets is defined once, as a condition on the ticket facts (`Scope`):
the report aggregates FILTERed on it and the drill-down lists the rows it holds, so a number
and the tickets behind it cannot disagree.

The review's figures count customers' problems: tickets a customer reported (`customer_initiated`).
Tickets the loop opened itself (care contacts, recovery after a low score) are counted apart, in
the figures of `proactive_totals` and `recovery_next_answers`, never in the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    SQLColumnExpression,
    String,
    Table,
    Uuid,
    and_,
    case,
    column,
    exists,
    extract,
    func,
    null,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import AnswerFact, ClockFact, SegmentFact, TicketFact, customer_initiated
from ticketloop_retrospective.reports.domain import DETRACTOR_MAX, PROMOTER_MIN, Filters
from ticketloop_shared.events import ClockOutcome, TicketOrigin

f = TicketFact
_TICKETS = cast(Table, TicketFact.__table__)
CUSTOMER, CARE, RECOVERY = TicketOrigin.CUSTOMER.value, TicketOrigin.CARE.value, TicketOrigin.RECOVERY.value
FCR_MAX_REPLIES = 1
SATISFIED_CSAT_MIN = 4


def _on(table: Table, filters: Filters) -> ColumnElement[bool]:
    """The filters as a condition on a table carrying the ticket's dimensions."""
    conditions = [
        table.c[column] == value
        for column, value in (
            ("channel", filters.channel),
            ("category", filters.category),
            ("department_id", filters.department),
            ("segment", filters.segment),
        )
        if value is not None
    ]
    return and_(true(), *conditions)


def on_tickets(filters: Filters) -> ColumnElement[bool]:
    """The filters as a condition on the ticket facts, over customer-initiated tickets only."""
    return and_(customer_initiated(_TICKETS), _on(_TICKETS, filters))


def _minutes(later: SQLColumnExpression[datetime | None], earlier: SQLColumnExpression[datetime | None]) -> Any:
    return extract("epoch", later - earlier) / 60


@dataclass(frozen=True)
class Scope:
    """One period and its filters: the conditions every figure is defined by."""

    starts_at: datetime
    ends_at: datetime
    filters: Filters

    def within(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        """The instant in `column` falls in the period."""
        return and_(column >= self.starts_at, column < self.ends_at)

    def open_at(self, instant: datetime) -> ColumnElement[bool]:
        """The ticket was open at `instant`: created before it and not resolved by then (a
        resolution followed by a reopen before `instant` leaves it open)."""
        return and_(
            f.created_at < instant,
            or_(
                f.resolved_at.is_(None),
                f.resolved_at >= instant,
                and_(f.reopened_at > f.resolved_at, f.reopened_at < instant),
            ),
        )

    # --- the ticket sets, by metric name (see reports/dictionary.py) ---
    def opened(self) -> ColumnElement[bool]:
        return self.within(f.created_at)

    def resolved(self) -> ColumnElement[bool]:
        return and_(self.within(f.resolved_at), f.created_at.is_not(None))

    def resolved_by_end(self) -> ColumnElement[bool]:
        """Of the tickets opened in the period, resolved by its end and not reopened since."""
        return and_(
            self.opened(),
            f.resolved_at < self.ends_at,
            or_(f.reopened_at.is_(None), f.reopened_at < f.resolved_at),
        )

    def first_contact_resolved(self) -> ColumnElement[bool]:
        """Resolved in the period at first contact: by self-service, or with at most one agent
        reply, and never reopened."""
        return and_(
            self.resolved(),
            or_(f.self_service, func.cardinality(f.reply_ids) <= FCR_MAX_REPLIES),
            func.cardinality(f.reopen_times) == 0,
        )

    def reopened(self) -> ColumnElement[bool]:
        return and_(self.resolved(), func.cardinality(f.reopen_times) > 0)

    def repeat_complaints(self) -> ColumnElement[bool]:
        return and_(self.opened(), func.cardinality(f.repeat_ids) > 0)

    def first_responded(self) -> ColumnElement[bool]:
        return and_(self.within(f.first_response_at), f.created_at.is_not(None))

    def handled(self) -> ColumnElement[bool]:
        return and_(self.resolved(), f.first_assigned_at.is_not(None))

    def expected_resolved(self) -> ColumnElement[bool]:
        """Resolved in the period, with a resolution time the customer expected at intake."""
        return and_(self.resolved(), f.expected_resolution_at.is_not(None))

    def expected_missed(self) -> ColumnElement[bool]:
        """Resolved in the period later than the customer expected."""
        return and_(self.expected_resolved(), f.resolved_at > f.expected_resolution_at)

    def standing(self) -> ColumnElement[bool]:
        """Resolved in the period and not reopened since."""
        return and_(self.resolved(), or_(f.reopened_at.is_(None), f.reopened_at < f.resolved_at))

    def backlog_start(self) -> ColumnElement[bool]:
        return self.open_at(self.starts_at)

    def backlog_end(self) -> ColumnElement[bool]:
        return self.open_at(self.ends_at)

    def answered(self) -> ColumnElement[bool]:
        return and_(self.within(f.answered_at), f.csat.is_not(None))

    def sla(self, outcome: ClockOutcome | None, clock: str | None) -> ColumnElement[bool]:
        """The ticket has a cycle that ended (met or breached) in the period."""
        c = ClockFact
        return exists().where(
            c.ticket_id == f.ticket_id,
            self.within(c.at),
            c.outcome == outcome.value if outcome else true(),
            c.clock == clock if clock else true(),
        )

    def ticket_set(self, metric: str, *, clock: str | None = None) -> ColumnElement[bool]:
        """The tickets `metric` counts (a KeyError for a metric that counts no tickets): the
        customer-initiated ones, or for the proactive figures the ones of their origin."""
        proactive: dict[str, tuple[str, Callable[[], ColumnElement[bool]]]] = {
            "care_contacts_made": (CARE, self.opened),
            "care_contacts_completed": (CARE, self.resolved),
            "recovery_tickets_opened": (RECOVERY, self.opened),
            "recovery_tickets_resolved": (RECOVERY, self.resolved),
            "recovery_rate": (RECOVERY, self.resolved_by_end),
        }
        if metric in proactive:
            origin, condition = proactive[metric]
            return and_(f.origin == origin, condition(), _on(_TICKETS, self.filters))
        if metric == "csat":  # answers count whatever ticket they are about (`answer_totals`)
            return and_(self.answered(), _on(_TICKETS, self.filters))
        sets: dict[str, Callable[[], ColumnElement[bool]]] = {
            "tickets_opened": self.opened,
            "tickets_resolved": self.resolved,
            "resolution_rate": self.resolved_by_end,
            "first_contact_resolution": self.first_contact_resolved,
            "reopen_rate": self.reopened,
            "repeat_complaint_rate": self.repeat_complaints,
            "first_response_time": self.first_responded,
            "resolution_time": self.resolved,
            "handling_time": self.handled,
            "backlog_start": self.backlog_start,
            "backlog_end": self.backlog_end,
            "sla_met": lambda: self.sla(ClockOutcome.MET, clock),
            "sla_breached": lambda: self.sla(ClockOutcome.BREACHED, clock),
            "expected_resolution": self.expected_resolved,
            "expected_resolution_missed": self.expected_missed,
        }
        return and_(sets[metric](), on_tickets(self.filters))


@dataclass(frozen=True)
class Durations:
    """Count, mean and percentiles of one duration, in minutes."""

    count: int
    average: Decimal | float | None
    p50: Decimal | float | None
    p90: Decimal | float | None


@dataclass(frozen=True)
class TicketTotals:
    """The ticket figures of one scope, before rounding and percentages."""

    opened: int
    resolved: int
    resolved_by_end: int
    first_contact_resolved: int
    reopened: int
    repeat_complaints: int
    first_response: Durations
    resolution: Durations
    handling: Durations
    # Resolutions against the customer's expected time: how many had one (`count`), the gap
    # (resolved − expected, negative when early), and how many came by it.
    expected_gap: Durations
    expected_met: int


def _durations(name: str, minutes: Any, condition: ColumnElement[bool], *, percentiles: bool) -> list[Any]:
    return [
        func.count().filter(condition).label(f"{name}_count"),
        func.avg(minutes).filter(condition).label(f"{name}_avg"),
        (func.percentile_cont(0.5).within_group(minutes).filter(condition) if percentiles else null()).label(
            f"{name}_p50"
        ),
        (func.percentile_cont(0.9).within_group(minutes).filter(condition) if percentiles else null()).label(
            f"{name}_p90"
        ),
    ]


def _read_durations(row: Any, name: str) -> Durations:
    return Durations(
        count=row[f"{name}_count"], average=row[f"{name}_avg"], p50=row[f"{name}_p50"], p90=row[f"{name}_p90"]
    )


async def ticket_totals(session: AsyncSession, scope: Scope, *, percentiles: bool = True) -> TicketTotals:
    """The ticket figures of the scope in one pass over the rows that have anything in it.

    Each figure has its own instant (created, first answered, resolved), so each is an
    aggregate FILTERed on its condition; the WHERE only narrows the scan (a bitmap OR of the
    per-instant indexes). Without `percentiles` (the previous period, for the headline goals)
    the p50/p90 are left out: they are the sorts that cost."""
    opened, resolved, responded = scope.opened(), scope.resolved(), scope.first_responded()
    stmt = select(
        func.count().filter(opened).label("opened"),
        func.count().filter(resolved).label("resolved"),
        func.count().filter(scope.resolved_by_end()).label("resolved_by_end"),
        func.count().filter(scope.first_contact_resolved()).label("first_contact_resolved"),
        func.count().filter(scope.reopened()).label("reopened"),
        func.count().filter(scope.repeat_complaints()).label("repeat_complaints"),
        *_durations("first_response", _minutes(f.first_response_at, f.created_at), responded, percentiles=percentiles),
        *_durations("resolution", _minutes(f.resolved_at, f.created_at), resolved, percentiles=percentiles),
        *_durations("handling", _minutes(f.resolved_at, f.first_assigned_at), scope.handled(), percentiles=percentiles),
        *_durations(
            "expected_gap",
            _minutes(f.resolved_at, f.expected_resolution_at),
            scope.expected_resolved(),
            percentiles=percentiles,
        ),
        func.count().filter(scope.expected_resolved(), f.resolved_at <= f.expected_resolution_at).label("expected_met"),
    ).where(
        or_(scope.within(f.created_at), scope.within(f.resolved_at), scope.within(f.first_response_at)),
        on_tickets(scope.filters),
    )
    row = (await session.execute(stmt)).mappings().one()
    return TicketTotals(
        opened=row["opened"],
        resolved=row["resolved"],
        resolved_by_end=row["resolved_by_end"],
        first_contact_resolved=row["first_contact_resolved"],
        reopened=row["reopened"],
        repeat_complaints=row["repeat_complaints"],
        first_response=_read_durations(row, "first_response"),
        resolution=_read_durations(row, "resolution"),
        handling=_read_durations(row, "handling"),
        expected_gap=_read_durations(row, "expected_gap"),
        expected_met=row["expected_met"],
    )


async def backlog(session: AsyncSession, scope: Scope) -> tuple[int, int]:
    """Tickets open at the period's start and at its end (`Scope.open_at`).

    The start is counted as three disjoint parts, each read from an index: never resolved and
    created before it; resolved at or after it and created before it; resolved before it but
    reopened since. The end is the start plus the change over the period, and a ticket's state
    can only change at one of its own instants (created, resolved, reopened): that sum runs over
    the period's rows alone, not the whole history again."""
    where = on_tickets(scope.filters)
    start = scope.starts_at
    parts = [
        select(func.count()).where(f.resolved_at.is_(None), f.created_at < start, where).scalar_subquery(),
        select(func.count()).where(f.resolved_at >= start, f.created_at < start, where).scalar_subquery(),
        select(func.count())
        .where(
            f.reopened_at.is_not(None),
            f.reopened_at < start,
            f.reopened_at > f.resolved_at,
            f.resolved_at < start,
            where,
        )
        .scalar_subquery(),
    ]
    moved = (
        select(
            func.coalesce(
                func.sum(case((scope.open_at(scope.ends_at), 1), else_=0) - case((scope.open_at(start), 1), else_=0)),
                0,
            )
        )
        .where(
            or_(scope.within(f.created_at), scope.within(f.resolved_at), scope.within(f.reopened_at)),
            where,
        )
        .scalar_subquery()
    )
    row = (await session.execute(select(*parts, moved))).one()
    at_start = int(sum(row[:3]))
    return at_start, at_start + int(row[3])


async def opened_by_category(session: AsyncSession, scope: Scope) -> list[tuple[str, int]]:
    """Tickets opened in the period per category, most frequent first (ties by name)."""
    tickets = func.count().label("tickets")
    # A row learns created_at and category from the same event, so category is set here.
    category = func.coalesce(f.category, "unknown").label("category")
    rows = await session.execute(
        select(category, tickets)
        .where(scope.opened(), on_tickets(scope.filters))
        .group_by(category)
        .order_by(tickets.desc(), category)
    )
    return [(row.category, row.tickets) for row in rows]


@dataclass(frozen=True)
class ProactiveTotals:
    """The tickets the loop opened itself of one origin (care, recovery) in a period."""

    origin: str
    opened: int
    resolved: int
    resolved_by_end: int


async def proactive_totals(session: AsyncSession, scope: Scope) -> dict[str, ProactiveTotals]:
    """Per proactive origin: tickets opened in the period, resolved in it, and of the opened ones
    those resolved by its end and not reopened since (the same conditions as the customer
    figures, over the other tickets)."""
    origin = f.origin.label("origin")
    rows = await session.execute(
        select(
            origin,
            func.count().filter(scope.opened()).label("opened"),
            func.count().filter(scope.resolved()).label("resolved"),
            func.count().filter(scope.resolved_by_end()).label("resolved_by_end"),
        )
        .where(
            f.origin.is_not(None),
            f.origin != CUSTOMER,
            or_(scope.within(f.created_at), scope.within(f.resolved_at)),
            _on(_TICKETS, scope.filters),
        )
        .group_by(f.origin)
    )
    return {r.origin: ProactiveTotals(r.origin, r.opened, r.resolved, r.resolved_by_end) for r in rows}


# Care's own record of how each contact went (written by care/, read here by name: the review
# counts outcomes, it does not reach into care's feature).
_CARE_COMPLETIONS = table(
    "care_completions",
    column("ticket_id", Uuid),
    column("outcome", String),
    column("completed_at", DateTime(timezone=True)),
)


async def care_outcomes(session: AsyncSession, scope: Scope) -> dict[str, int]:
    """Care contacts completed in the period per outcome (reached, no_answer, declined, follow_up,
    unreachable), of the tickets the filters select."""
    c = _CARE_COMPLETIONS.c
    rows = await session.execute(
        select(c.outcome, func.count())
        .select_from(_CARE_COMPLETIONS.join(_TICKETS, _TICKETS.c.ticket_id == c.ticket_id))
        .where(c.outcome.is_not(None), scope.within(c.completed_at), _on(_TICKETS, scope.filters))
        .group_by(c.outcome)
    )
    return {str(outcome): int(count) for outcome, count in rows.tuples()}


async def recovery_next_answers(session: AsyncSession, scope: Scope, *, low_scores: Select[Any]) -> tuple[int, int]:
    """Of the recovery tickets resolved in the period and not reopened since: how many customers
    answered a survey after the resolution (and before the period's end), and how many of those
    first answers raised no low score (`low_scores`: the survey ids feedback announced as low)."""
    a = AnswerFact
    first_answer = (
        select(a.survey_id)
        .where(a.customer_id == f.customer_id, a.answered_at > f.resolved_at, a.answered_at < scope.ends_at)
        .order_by(a.answered_at, a.survey_id)
        .limit(1)
        .correlate(TicketFact)
        .scalar_subquery()
    )
    recovered = (
        select(first_answer.label("survey_id"))
        .where(f.origin == RECOVERY, scope.standing(), _on(_TICKETS, scope.filters))
        .subquery()
    )
    survey = recovered.c.survey_id
    row = (
        await session.execute(
            select(
                func.count(survey).label("answered"),
                func.count().filter(survey.is_not(None), survey.not_in(low_scores)).label("not_low"),
            )
        )
    ).one()
    return int(row.answered), int(row.not_low)


@dataclass(frozen=True)
class CycleGroup:
    """SLA cycles that ended in a period, of one metric, department and segment."""

    clock: str
    department: str
    segment: str
    met: int
    breached: int


async def sla_cycles(session: AsyncSession, scope: Scope) -> list[CycleGroup]:
    """Cycles that ended in the period (met at their stop, breached at their due instant), per
    metric × department × segment of their ticket: a few hundred rows at most, which the report
    sums per metric, per department and per segment."""
    c = cast(Table, ClockFact.__table__)
    department = func.coalesce(c.c.department_id, "unassigned").label("department")
    segment = func.coalesce(c.c.segment, "unknown").label("segment")
    met = func.count().filter(c.c.outcome == ClockOutcome.MET.value).label("met")
    breached = func.count().filter(c.c.outcome == ClockOutcome.BREACHED.value).label("breached")
    rows = await session.execute(
        select(c.c.clock, department, segment, met, breached)
        .where(scope.within(c.c.at), customer_initiated(c), _on(c, scope.filters))
        .group_by(c.c.clock, department, segment)
    )
    return [CycleGroup(r.clock, r.department, r.segment, r.met, r.breached) for r in rows]


@dataclass(frozen=True)
class AnswerTotals:
    """The survey answers given in a period."""

    csat_responses: int
    csat_avg: Decimal | float | None
    csat_satisfied: int
    nps_responses: int
    promoters: int
    passives: int
    detractors: int
    dimension_responses: int
    dimensions: dict[str, Decimal | float | None]


DIMENSIONS = ("quality", "response_speed", "resolution", "care", "overall")


async def answer_totals(session: AsyncSession, scope: Scope) -> AnswerTotals:
    """CSAT, NPS and dimension averages of the answers given in the period, whatever ticket (if
    any) they are about: every answer is the customer's own voice. With ticket filters (channel,
    category, department) only answers about a matching ticket count; the segment is the
    customer's when they answered."""
    a = AnswerFact
    t = scope.filters
    stmt = select(
        func.count(a.csat).label("csat_responses"),
        func.avg(a.csat).label("csat_avg"),
        func.count().filter(a.csat >= SATISFIED_CSAT_MIN).label("csat_satisfied"),
        func.count(a.nps).label("nps_responses"),
        func.count().filter(a.nps >= PROMOTER_MIN).label("promoters"),
        func.count().filter(a.nps > DETRACTOR_MAX, a.nps < PROMOTER_MIN).label("passives"),
        func.count().filter(a.nps <= DETRACTOR_MAX).label("detractors"),
        func.count(a.overall).label("dimension_responses"),
        *[func.avg(getattr(a, d)).label(d) for d in DIMENSIONS],
    ).where(scope.within(a.answered_at))
    if t.segment is not None:
        stmt = stmt.where(a.segment == t.segment)
    if any(v is not None for v in (t.channel, t.category, t.department)):
        on_ticket = Filters(channel=t.channel, category=t.category, department=t.department)
        stmt = stmt.join(f, f.ticket_id == a.ticket_id).where(_on(_TICKETS, on_ticket))
    row = (await session.execute(stmt)).mappings().one()
    return AnswerTotals(
        csat_responses=row["csat_responses"],
        csat_avg=row["csat_avg"],
        csat_satisfied=row["csat_satisfied"],
        nps_responses=row["nps_responses"],
        promoters=row["promoters"],
        passives=row["passives"],
        detractors=row["detractors"],
        dimension_responses=row["dimension_responses"],
        dimensions={d: row[d] for d in DIMENSIONS},
    )


async def customers_per_segment(
    session: AsyncSession, *, at: datetime, before: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """How many customers each segment held at `at` and at `before` (each customer's change in
    force then: made before it, not yet followed by the next), in one pass over the changes."""
    s = SegmentFact

    def in_force(instant: datetime) -> ColumnElement[bool]:
        return and_(s.changed_at < instant, or_(s.valid_until.is_(None), s.valid_until >= instant))

    rows = await session.execute(
        select(
            s.segment,
            func.count().filter(in_force(at)).label("now"),
            func.count().filter(in_force(before)).label("then"),
        )
        .where(s.changed_at < at)
        .group_by(s.segment)
    )
    counts = rows.all()
    return {r.segment: r.now for r in counts if r.now}, {r.segment: r.then for r in counts if r.then}


@dataclass(frozen=True)
class ProblemRow:
    """One category's weight in a period, for the impact × difficulty matrix."""

    category: str
    tickets: int
    customers: int
    revenue: float
    handling_minutes: Decimal | float | None
    resolved: int
    reopened: int
    departments: int


async def problems(session: AsyncSession, scope: Scope) -> list[ProblemRow]:
    """Per category of the tickets opened in the period: customers and revenue affected (each
    customer's latest known annual spend, counted once), handling time, reopens, departments."""
    where = and_(scope.opened(), on_tickets(scope.filters))
    spend_category = func.coalesce(f.category, "unknown").label("category")
    spend = (
        select(spend_category, f.customer_id, func.max(f.customer_annual_spend).label("spend"))
        .where(where)
        .group_by(spend_category, f.customer_id)
        .subquery()
    )
    revenue = (
        select(
            spend.c.category,
            func.count().label("customers"),
            func.coalesce(func.sum(spend.c.spend), 0).label("revenue"),
        )
        .group_by(spend.c.category)
        .subquery()
    )
    category = func.coalesce(f.category, "unknown").label("category")
    resolved = f.resolved_at.is_not(None)
    tickets = (
        select(
            category,
            func.count().label("tickets"),
            func.avg(_minutes(f.resolved_at, f.first_assigned_at)).filter(resolved).label("handling"),
            func.count().filter(resolved).label("resolved"),
            func.count().filter(and_(resolved, func.cardinality(f.reopen_times) > 0)).label("reopened"),
            func.count(func.distinct(f.department_id)).label("departments"),
        )
        .where(where)
        .group_by(category)
        .subquery()
    )
    rows = await session.execute(
        select(tickets, revenue.c.customers, revenue.c.revenue)
        .join(revenue, revenue.c.category == tickets.c.category)
        .order_by(tickets.c.category)
    )
    return [
        ProblemRow(
            category=row.category,
            tickets=row.tickets,
            customers=row.customers,
            revenue=float(row.revenue),
            handling_minutes=row.handling,
            resolved=row.resolved,
            reopened=row.reopened,
            departments=row.departments,
        )
        for row in rows
    ]


TICKET_COLUMNS = (
    f.ticket_id,
    f.number,
    f.channel,
    f.category,
    f.urgency,
    f.segment,
    f.department_id,
    f.agent_id,
    f.customer_id,
    f.created_at,
    f.first_response_at,
    f.resolved_at,
    func.cardinality(f.reopen_times).label("reopens"),
    func.cardinality(f.reply_ids).label("agent_replies"),
    f.csat,
)


async def tickets_in(
    session: AsyncSession, condition: ColumnElement[bool], *, limit: int, after: Any | None
) -> Sequence[Any]:
    """The ticket facts a figure counts, in ticket id order (ids are time-ordered), a page at a time."""
    stmt = select(*TICKET_COLUMNS).where(condition)
    if after is not None:
        stmt = stmt.where(f.ticket_id > after)
    return (await session.execute(stmt.order_by(f.ticket_id).limit(limit))).all()
