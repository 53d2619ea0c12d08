"""The rules of reports: which window a request means and how raw aggregates become figures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketloop_retrospective.customers import service as customers
from ticketloop_retrospective.reports import repository
from ticketloop_retrospective.reports.dictionary import BY_NAME, DRILLDOWN, Metric
from ticketloop_retrospective.reports.domain import (
    Filters,
    Outcomes,
    PainClass,
    Period,
    ProblemStats,
    nps_score,
    outcomes_by,
    pain_class_of,
    prioritise,
)
from ticketloop_retrospective.reports.repository import CARE, RECOVERY, Scope
from ticketloop_retrospective.reports.schemas import (
    Backlog,
    CareFigures,
    CategoryShare,
    CsatFigures,
    DimensionFigures,
    DurationFigures,
    ExpectedResolution,
    GroupCompliance,
    HeadlineGoal,
    NpsFigures,
    PainClassShare,
    ProactiveFigures,
    ProblemPriority,
    RecoveryFigures,
    Report,
    SegmentCount,
    SlaFigures,
    TicketPage,
    TicketRow,
)
from ticketloop_retrospective.reports.schemas import Filters as FiltersOut
from ticketloop_retrospective.rounding import percent, round_half_up, rounded
from ticketloop_shared.errors import Unprocessable
from ticketloop_shared.vocabulary import Segment

SEGMENTS = tuple(s.value for s in Segment)
T = TypeVar("T")


class UnknownMetric(Unprocessable):
    """The figure asked to drill into counts no tickets (or does not exist)."""

    code = "unknown_metric"


def _durations(d: repository.Durations) -> DurationFigures:
    return DurationFigures(
        count=d.count, average_minutes=rounded(d.average), median_minutes=rounded(d.p50), p90_minutes=rounded(d.p90)
    )


def _compliance(o: Outcomes) -> GroupCompliance:
    return GroupCompliance(key=o.key, met=o.met, breached=o.breached, compliance_pct=percent(o.met, o.met + o.breached))


def drilldown_link(period: Period, metric: str, filters: Filters, **extra: str) -> str:
    """The URL listing the tickets behind one figure of this report."""
    params = {"period": period.label, "metric": metric, **extra}
    params.update({k: v for k, v in vars(filters).items() if v is not None})
    return f"/v1/reports/tickets?{urlencode(params)}"


async def report(
    sessions: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    filters: Filters,
    pain_classes: Mapping[str, PainClass],
    goals: Callable[[AsyncSession], Awaitable[Sequence[HeadlineGoal]]] | None = None,
) -> Report:
    """Every figure of the period, and the goals block `goals` gives (the goals feature measures
    each against its baseline period).

    The figures come from independent queries, run at once on their own connections: the
    report takes as long as its slowest query, not their sum."""
    raw = await _query_all(sessions, period=period, filters=filters, goals=goals)
    totals, answers, (at_start, at_end) = raw.totals, raw.answers, raw.backlog
    return Report(
        period=period.label,
        kind=period.kind,
        starts_at=period.starts_at,
        ends_at=period.ends_at,
        filters=FiltersOut(**vars(filters)),
        tickets_opened=totals.opened,
        tickets_resolved=totals.resolved,
        backlog=Backlog(at_start=at_start, at_end=at_end, flow=at_end - at_start),
        resolution_rate_pct=percent(totals.resolved_by_end, totals.opened),
        first_contact_resolution_pct=percent(totals.first_contact_resolved, totals.resolved),
        reopen_rate_pct=percent(totals.reopened, totals.resolved),
        repeat_complaint_rate_pct=percent(totals.repeat_complaints, totals.opened),
        first_response=_durations(totals.first_response),
        resolution_time=_durations(totals.resolution),
        handling_time=_durations(totals.handling),
        expected_resolution=_expected(totals),
        sla=_sla(raw.cycles),
        csat=CsatFigures(
            responses=answers.csat_responses,
            average=rounded(answers.csat_avg, 2),
            satisfied_pct=percent(answers.csat_satisfied, answers.csat_responses),
        ),
        dimensions=DimensionFigures(
            responses=answers.dimension_responses,
            **{name: rounded(value, 2) for name, value in answers.dimensions.items()},
        ),
        nps=_nps(answers),
        categories=_category_shares(raw.problems, pain_classes),
        pain_classes=_pain_class_shares(raw.problems, pain_classes),
        priorities=_priorities(raw.problems, pain_classes),
        segments=_segment_counts(*raw.segments),
        proactive=_proactive(raw.proactive, raw.recovered, raw.care_outcomes),
        headline=list(raw.goals),
        drilldown={metric: drilldown_link(period, metric, filters) for metric in sorted(DRILLDOWN)},
    )


@dataclass(frozen=True)
class _Raw:
    """What the report's queries returned, before it becomes figures."""

    totals: repository.TicketTotals
    backlog: tuple[int, int]
    cycles: list[repository.CycleGroup]
    answers: repository.AnswerTotals
    problems: list[repository.ProblemRow]
    segments: tuple[dict[str, int], dict[str, int]]
    goals: Sequence[HeadlineGoal]
    proactive: dict[str, repository.ProactiveTotals]
    care_outcomes: dict[str, int]
    recovered: tuple[int, int]


async def _query_all(
    sessions: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    filters: Filters,
    goals: Callable[[AsyncSession], Awaitable[Sequence[HeadlineGoal]]] | None,
) -> _Raw:
    """Run the report's queries at once, each on its own connection; one that fails cancels
    the others (they are not left running on their connections)."""
    scope = Scope(period.starts_at, period.ends_at, filters)

    async def run(query: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with sessions() as session:
            return await query(session)

    def start(query: Callable[[AsyncSession], Awaitable[T]]) -> asyncio.Task[T]:
        return asyncio.ensure_future(run(query))

    tasks: list[asyncio.Task[Any]] = [
        totals_task := start(lambda s: repository.ticket_totals(s, scope)),
        backlog_task := start(lambda s: repository.backlog(s, scope)),
        cycles_task := start(lambda s: repository.sla_cycles(s, scope)),
        answers_task := start(lambda s: repository.answer_totals(s, scope)),
        problems_task := start(lambda s: repository.problems(s, scope)),
        segments_task := start(
            lambda s: repository.customers_per_segment(s, at=period.ends_at, before=period.starts_at)
        ),
        goals_task := start(goals or _no_goals),
        proactive_task := start(lambda s: repository.proactive_totals(s, scope)),
        outcomes_task := start(lambda s: repository.care_outcomes(s, scope)),
        recovered_task := start(
            lambda s: repository.recovery_next_answers(s, scope, low_scores=customers.low_score_surveys())
        ),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:  # one failed: the others are not left running on their connections
            task.cancel()
    return _Raw(
        totals=totals_task.result(),
        backlog=backlog_task.result(),
        cycles=cycles_task.result(),
        answers=answers_task.result(),
        problems=problems_task.result(),
        segments=segments_task.result(),
        goals=goals_task.result(),
        proactive=proactive_task.result(),
        care_outcomes=outcomes_task.result(),
        recovered=recovered_task.result(),
    )


def _expected(totals: repository.TicketTotals) -> ExpectedResolution:
    """Resolutions against the customer's expected time: how many came by it, and the gap."""
    gap = totals.expected_gap
    return ExpectedResolution(
        tickets=gap.count,
        resolved_by_expected=totals.expected_met,
        resolved_by_expected_pct=percent(totals.expected_met, gap.count),
        median_gap_minutes=rounded(gap.p50),
        average_gap_minutes=rounded(gap.average),
    )


def _proactive(
    totals: Mapping[str, repository.ProactiveTotals], recovered: tuple[int, int], outcomes: Mapping[str, int]
) -> ProactiveFigures:
    """The care contacts and recovery tickets of the period, apart from the customers' problems."""
    care = totals.get(CARE, repository.ProactiveTotals(CARE, 0, 0, 0))
    recovery = totals.get(RECOVERY, repository.ProactiveTotals(RECOVERY, 0, 0, 0))
    answered, not_low = recovered
    return ProactiveFigures(
        care=CareFigures(made=care.opened, completed=care.resolved, outcomes=dict(outcomes)),
        recovery=RecoveryFigures(
            opened=recovery.opened,
            resolved=recovery.resolved,
            recovery_rate_pct=percent(recovery.resolved_by_end, recovery.opened),
            next_answers=answered,
            no_longer_low=not_low,
            no_longer_low_pct=percent(not_low, answered),
        ),
    )


def _sla(cycles: list[repository.CycleGroup]) -> SlaFigures:
    """Deadlines met and breached, overall and by metric, department and segment."""
    met = sum(g.met for g in cycles)
    breached = sum(g.breached for g in cycles)
    return SlaFigures(
        met=met,
        breached=breached,
        compliance_pct=percent(met, met + breached),
        by_metric=[_compliance(o) for o in outcomes_by(cycles, lambda g: g.clock)],
        by_department=[_compliance(o) for o in outcomes_by(cycles, lambda g: g.department)],
        by_segment=[_compliance(o) for o in outcomes_by(cycles, lambda g: g.segment)],
    )


def _categories(problems: list[repository.ProblemRow]) -> list[tuple[str, int]]:
    """Tickets per category, most first."""
    return sorted(((p.category, p.tickets) for p in problems), key=lambda c: (-c[1], c[0]))


def _category_shares(
    problems: list[repository.ProblemRow], pain_classes: Mapping[str, PainClass]
) -> list[CategoryShare]:
    """Each category's share of the categorised tickets."""
    categories = _categories(problems)
    categorised = sum(count for _, count in categories)
    return [
        CategoryShare(
            category=category,
            pain_class=pain_class_of(category, pain_classes).value,
            tickets=count,
            share_pct=round_half_up(Fraction(count * 100, categorised)),
        )
        for category, count in categories
    ]


def _pain_class_shares(
    problems: list[repository.ProblemRow], pain_classes: Mapping[str, PainClass]
) -> list[PainClassShare]:
    """Each pain class's share of the categorised tickets, most first."""
    categories = _categories(problems)
    categorised = sum(count for _, count in categories)
    by_class: dict[str, int] = {}
    for category, count in categories:
        by_class[pain_class_of(category, pain_classes).value] = (
            by_class.get(pain_class_of(category, pain_classes).value, 0) + count
        )
    return [
        PainClassShare(pain_class=name, tickets=count, share_pct=round_half_up(Fraction(count * 100, categorised)))
        for name, count in sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _priorities(problems: list[repository.ProblemRow], pain_classes: Mapping[str, PainClass]) -> list[ProblemPriority]:
    """The problems ranked by `domain.prioritise` (impact against difficulty)."""
    ranked = prioritise(
        [
            ProblemStats(
                category=p.category,
                tickets=p.tickets,
                customers=p.customers,
                revenue=p.revenue,
                handling_minutes=float(p.handling_minutes) if p.handling_minutes is not None else None,
                reopen_rate=p.reopened / p.resolved if p.resolved else None,
                departments=p.departments,
            )
            for p in problems
        ]
    )
    return [
        ProblemPriority(
            rank=p.rank,
            category=p.stats.category,
            pain_class=pain_class_of(p.stats.category, pain_classes).value,
            quadrant=p.quadrant,
            impact=p.impact,
            difficulty=p.difficulty,
            tickets=p.stats.tickets,
            customers=p.stats.customers,
            revenue=p.stats.revenue,
            handling_minutes=rounded(p.stats.handling_minutes),
            reopen_rate_pct=rounded(p.stats.reopen_rate * 100) if p.stats.reopen_rate is not None else None,
            departments=p.stats.departments,
        )
        for p in ranked
    ]


def _segment_counts(now: Mapping[str, int], before: Mapping[str, int]) -> list[SegmentCount]:
    """Customers per segment at the period's end, against its start."""
    return [
        SegmentCount(
            segment=s, customers=now.get(s, 0), previous=before.get(s, 0), change=now.get(s, 0) - before.get(s, 0)
        )
        for s in SEGMENTS
    ]


async def _no_goals(_: AsyncSession) -> Sequence[HeadlineGoal]:
    return ()


def _nps(answers: repository.AnswerTotals) -> NpsFigures:
    return NpsFigures(
        responses=answers.nps_responses,
        promoters=answers.promoters,
        passives=answers.passives,
        detractors=answers.detractors,
        score=nps_score(promoters=answers.promoters, detractors=answers.detractors, responses=answers.nps_responses),
    )


CSV_PAGE = 5000


async def all_tickets(
    session: AsyncSession, *, period: Period, metric: str, filters: Filters, clock: str | None
) -> list[TicketRow]:
    """Every ticket one figure counts, for the CSV export (read a page at a time)."""
    rows: list[TicketRow] = []
    after: uuid.UUID | None = None
    while True:
        page = await tickets(
            session, period=period, metric=metric, filters=filters, clock=clock, limit=CSV_PAGE, after=after
        )
        rows.extend(page.items)
        if page.next_after is None:
            return rows
        after = uuid.UUID(page.next_after)


async def tickets(
    session: AsyncSession,
    *,
    period: Period,
    metric: str,
    filters: Filters,
    clock: str | None,
    limit: int,
    after: uuid.UUID | None,
) -> TicketPage:
    """The tickets one figure counts, a page at a time."""
    if metric not in DRILLDOWN:
        raise UnknownMetric(
            f"{metric!r} counts no tickets to list", details={"metric": metric, "known": sorted(DRILLDOWN)}
        )
    scope = Scope(period.starts_at, period.ends_at, filters)
    rows = await repository.tickets_in(session, scope.ticket_set(metric, clock=clock), limit=limit, after=after)
    items = [TicketRow(**{**row._asdict(), "ticket_id": str(row.ticket_id)}) for row in rows]
    return TicketPage(
        metric=metric,
        period=period.label,
        items=items,
        next_after=items[-1].ticket_id if len(items) == limit else None,
    )


async def period_totals(
    session: AsyncSession, *, period: Period, filters: Filters
) -> tuple[repository.TicketTotals, list[repository.CycleGroup]]:
    """The ticket totals and the SLA cycles of one period: two queries, for a trend that does not
    need a whole report per period."""
    scope = Scope(period.starts_at, period.ends_at, filters)
    return await repository.ticket_totals(session, scope), await repository.sla_cycles(session, scope)


async def opened_by_category(session: AsyncSession, *, starts_at: datetime, ends_at: datetime) -> list[tuple[str, int]]:
    """Tickets opened between the two instants per category, most frequent first (ties by name)."""
    return await repository.opened_by_category(session, Scope(starts_at, ends_at, Filters()))


def metric(name: str) -> Metric | None:
    """The dictionary's entry for a figure (its title and definition), if it has one."""
    return BY_NAME.get(name)
