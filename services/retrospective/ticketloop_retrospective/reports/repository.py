"""All SQL of reports: each figure is aggregated in PostgreSQL over the ticket facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import TicketFact
from ticketloop_retrospective.reports.domain import DETRACTOR_MAX, PROMOTER_MIN
from ticketloop_shared.events import ClockOutcome


@dataclass(frozen=True)
class WeekTotals:
    """The raw aggregates of one window, before rounding and percentages."""

    opened: int
    resolved: int
    first_response_count: int
    first_response_avg: Decimal | float | None
    first_response_median: Decimal | float | None
    resolution_count: int
    resolution_avg: Decimal | float | None
    resolution_median: Decimal | float | None
    sla_met: int
    sla_breached: int
    csat_responses: int
    csat_avg: Decimal | float | None
    nps_responses: int
    promoters: int
    passives: int
    detractors: int


async def week_totals(session: AsyncSession, *, starts_at: datetime, ends_at: datetime) -> WeekTotals:
    """Every figure of the window in one pass over the rows that have anything in it.

    Each figure has its own instant (created, answered, resolved, clock stopped…), so each is
    an aggregate FILTERed on that instant; the WHERE only narrows the scan (a bitmap OR of the
    per-instant indexes).
    """
    f = TicketFact

    def within(column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        return and_(column >= starts_at, column < ends_at)

    def minutes_since_creation(column: SQLColumnExpression[datetime | None]) -> ColumnElement[Decimal | float]:
        return extract("epoch", column - f.created_at) / 60

    opened = within(f.created_at)
    resolved = within(f.resolved_at)
    answered = within(f.answered_at)
    first_responded = and_(within(f.first_response_at), f.created_at.is_not(None))
    resolved_known = and_(resolved, f.created_at.is_not(None))
    first_response_minutes = minutes_since_creation(f.first_response_at)
    resolution_minutes = minutes_since_creation(f.resolved_at)

    def clock_outcomes(outcome: ClockOutcome) -> ColumnElement[int]:
        return func.count().filter(
            and_(f.first_response_sla == outcome.value, within(f.first_response_sla_at))
        ) + func.count().filter(and_(f.resolution_sla == outcome.value, within(f.resolution_sla_at)))

    stmt = select(
        func.count().filter(opened).label("opened"),
        func.count().filter(resolved).label("resolved"),
        func.count().filter(first_responded).label("first_response_count"),
        func.avg(first_response_minutes).filter(first_responded).label("first_response_avg"),
        func.percentile_cont(0.5)
        .within_group(first_response_minutes)
        .filter(first_responded)
        .label("first_response_median"),
        func.count().filter(resolved_known).label("resolution_count"),
        func.avg(resolution_minutes).filter(resolved_known).label("resolution_avg"),
        func.percentile_cont(0.5).within_group(resolution_minutes).filter(resolved_known).label("resolution_median"),
        clock_outcomes(ClockOutcome.MET).label("sla_met"),
        clock_outcomes(ClockOutcome.BREACHED).label("sla_breached"),
        func.count(f.csat).filter(answered).label("csat_responses"),
        func.avg(f.csat).filter(answered).label("csat_avg"),
        func.count(f.nps).filter(answered).label("nps_responses"),
        func.count().filter(and_(answered, f.nps >= PROMOTER_MIN)).label("promoters"),
        func.count().filter(and_(answered, f.nps > DETRACTOR_MAX, f.nps < PROMOTER_MIN)).label("passives"),
        func.count().filter(and_(answered, f.nps <= DETRACTOR_MAX)).label("detractors"),
    ).where(
        or_(
            opened,
            resolved,
            answered,
            within(f.first_response_at),
            within(f.first_response_sla_at),
            within(f.resolution_sla_at),
        )
    )
    row = (await session.execute(stmt)).mappings().one()
    return WeekTotals(**row)


async def opened_by_category(session: AsyncSession, *, starts_at: datetime, ends_at: datetime) -> list[tuple[str, int]]:
    """Tickets opened in the window per category, most frequent first (ties by name)."""
    f = TicketFact
    tickets = func.count().label("tickets")
    # A row learns created_at and category from the same event, so category is set here.
    category = func.coalesce(f.category, "unknown").label("category")
    rows = await session.execute(
        select(category, tickets)
        .where(f.created_at >= starts_at, f.created_at < ends_at)
        .group_by(category)
        .order_by(tickets.desc(), category)
    )
    return [(row.category, row.tickets) for row in rows]
