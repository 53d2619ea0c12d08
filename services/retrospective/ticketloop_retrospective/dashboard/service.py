"""What one dashboard page shows, gathered from the reports and rectification features: the
period's report, the trend of a few figures over the periods before it, and the items still
being worked. The figures come from the same queries as the JSON reports, so the page and the
API cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketloop_retrospective.dashboard.domain import TRENDS
from ticketloop_retrospective.goals import service as goals
from ticketloop_retrospective.goals.schemas import HeadlineGoal, headline_goal
from ticketloop_retrospective.rectification import service as rectification
from ticketloop_retrospective.rectification.schemas import ItemOut
from ticketloop_retrospective.reports import service as reports
from ticketloop_retrospective.reports.domain import Filters, Period, trailing
from ticketloop_retrospective.reports.schemas import Report
from ticketloop_retrospective.rounding import percent, rounded
from ticketloop_retrospective.settings import RetrospectiveSettings

OPEN_ITEMS = 20


@dataclass(frozen=True)
class TrendPoint:
    """The trend figures of one period (as its own report would show them)."""

    period: str
    opened: int
    resolved: int
    first_response_p50: float | None
    sla_compliance_pct: float | None


@dataclass(frozen=True)
class Dashboard:
    """Everything one dashboard page draws."""

    report: Report
    trend: list[TrendPoint]
    open_items: list[ItemOut]


async def trend(session: AsyncSession, *, periods: list[Period], filters: Filters) -> list[TrendPoint]:
    """Opened, resolved, first-response p50 and SLA compliance of each period, oldest first
    (two queries a period rather than a whole report each)."""
    points: list[TrendPoint] = []
    for period in periods:
        totals, cycles = await reports.period_totals(session, period=period, filters=filters)
        met, breached = sum(c.met for c in cycles), sum(c.breached for c in cycles)
        points.append(
            TrendPoint(
                period=period.label,
                opened=totals.opened,
                resolved=totals.resolved,
                first_response_p50=rounded(totals.first_response.p50),
                sla_compliance_pct=percent(met, met + breached),
            )
        )
    return points


async def open_items(session: AsyncSession, *, department: str | None = None) -> list[ItemOut]:
    """Rectification items not yet closed, newest first (open ones, then those in progress); only
    the items one department owns when given."""
    return await rectification.unfinished(session, limit=OPEN_ITEMS, owner_department=department)


async def dashboard(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    *,
    period: Period,
    filters: Filters,
    settings: RetrospectiveSettings,
    now: datetime,
    department: str | None = None,
    segment_goals: bool = False,
) -> Dashboard:
    """The period's report with its goals block (its queries on connections of their own, from
    `sessions`), its trend over the last `TRENDS` periods and the open items (on `session`); for a
    department's staff (`department`), its items only (`filters` already hold its department)."""
    zone = settings.report_zone

    async def headline(goal_session: AsyncSession) -> list[HeadlineGoal]:
        rows = await goals.headline(
            goal_session,
            starts_at=period.starts_at,
            ends_at=period.ends_at,
            filters=filters,
            settings=settings,
            now=now,
            segment_goals=segment_goals and not filters.any,
        )
        return [headline_goal(r) for r in rows]

    report = await reports.report(
        sessions, period=period, filters=filters, pain_classes=settings.pain_classes, goals=headline
    )
    return Dashboard(
        report=report,
        trend=await trend(session, periods=trailing(period, TRENDS, zone), filters=filters),
        open_items=await open_items(session, department=department),
    )
