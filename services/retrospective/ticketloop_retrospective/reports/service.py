"""The rules of reports: which window a request means and how raw aggregates become figures."""

from __future__ import annotations

from datetime import tzinfo
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.reports import repository
from ticketloop_retrospective.reports.domain import ReportWeek, nps_score, percent, round_half_up, rounded
from ticketloop_retrospective.reports.schemas import (
    CategoryShare,
    CsatFigures,
    DurationFigures,
    NpsFigures,
    SlaFigures,
    WeeklyReport,
)


async def weekly_report(session: AsyncSession, *, week: str, zone: tzinfo) -> WeeklyReport:
    """The figures of ISO week `week` (e.g. `2026-W48`) cut in `zone`; `InvalidWeek` if unparsable."""
    window = ReportWeek.parse(week, zone)
    t = await repository.week_totals(session, starts_at=window.starts_at, ends_at=window.ends_at)
    categories = await repository.opened_by_category(session, starts_at=window.starts_at, ends_at=window.ends_at)
    # Shares are of the categories' own total, counted by one statement, so they stay consistent
    # with each other even if tickets arrive between this query and the one behind tickets_opened.
    categorised = sum(count for _, count in categories)
    return WeeklyReport(
        week=window.label,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        tickets_opened=t.opened,
        tickets_resolved=t.resolved,
        first_response=DurationFigures(
            count=t.first_response_count,
            average_minutes=rounded(t.first_response_avg),
            median_minutes=rounded(t.first_response_median),
        ),
        resolution_time=DurationFigures(
            count=t.resolution_count,
            average_minutes=rounded(t.resolution_avg),
            median_minutes=rounded(t.resolution_median),
        ),
        sla=SlaFigures(
            met=t.sla_met,
            breached=t.sla_breached,
            compliance_pct=percent(t.sla_met, t.sla_met + t.sla_breached),
        ),
        csat=CsatFigures(responses=t.csat_responses, average=rounded(t.csat_avg, 2)),
        nps=NpsFigures(
            responses=t.nps_responses,
            promoters=t.promoters,
            passives=t.passives,
            detractors=t.detractors,
            score=nps_score(promoters=t.promoters, detractors=t.detractors, responses=t.nps_responses),
        ),
        categories=[
            CategoryShare(category=category, tickets=count, share_pct=round_half_up(Fraction(count * 100, categorised)))
            for category, count in categories
        ],
    )
