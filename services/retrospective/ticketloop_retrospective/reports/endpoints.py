"""HTTP: staff read the reports (JSON or CSV), the metric dictionary and the tickets behind any
figure. An agent or supervisor reads its own department's figures and tickets only (the department
filter is forced to its own); an admin reads every department's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.reports import service
from ticketloop_retrospective.reports.dictionary import METRICS
from ticketloop_retrospective.reports.domain import Filters, Period, ReportMonth, ReportWeek, parse_period
from ticketloop_retrospective.reports.schemas import (
    HeadlineGoal,
    MetricDictionary,
    MetricOut,
    Report,
    TicketPage,
    report_rows,
    ticket_rows,
)
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep, csv_response
from ticketloop_shared.auth import CurrentStaff, Principal, Role, department_scope
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1", tags=["reports"])

_errors: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with `format=csv`"},
    401: {"description": "Missing or invalid credentials"},
    403: {"description": "`not_your_department`: another department's figures asked for"},
    422: {"description": "The period is missing or malformed (`invalid_week`, `invalid_month`, `invalid_period`)"},
}
Name = Annotated[str | None, Query(max_length=100), STORABLE]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` for a spreadsheet")]


async def report_filters(
    staff: CurrentStaff, channel: Name = None, category: Name = None, department: Name = None, segment: Name = None
) -> Filters:
    """Dependency: the filters every report and drill-down takes; an agent's or supervisor's
    department filter is forced to its own (asking for another is a 403)."""
    return Filters(channel=channel, category=category, department=department_scope(staff, department), segment=segment)


FiltersDep = Annotated[Filters, Depends(report_filters)]


class HeadlineSource(Protocol):
    """The goals block a report carries, each goal against its baseline period. The goals feature
    measures it (it reads reports' figures, so reports never import it back); the app wires it in
    as `app.state.headline`. `everyone`: the goals about every customer (segment goals) too."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        period: Period,
        filters: Filters,
        settings: RetrospectiveSettings,
        now: datetime,
        everyone: bool,
    ) -> list[HeadlineGoal]: ...


async def headline_source(request: Request) -> HeadlineSource | None:
    """Dependency: the goals block's source the app wired in (none: reports without goals)."""
    source: HeadlineSource | None = getattr(request.app.state, "headline", None)
    return source


HeadlineDep = Annotated[HeadlineSource | None, Depends(headline_source)]


async def _report(
    runtime: Runtime[Any],
    settings: RetrospectiveSettings,
    period: Period,
    filters: Filters,
    fmt: str,
    staff: Principal,
    source: HeadlineSource | None,
) -> Report | Response:

    async def headline(session: AsyncSession) -> list[HeadlineGoal]:
        assert source is not None
        return await source(
            session,
            period=period,
            filters=filters,
            settings=settings,
            now=runtime.clock.now(),
            # The segment goals are about every customer, not one department's: an admin's figures.
            everyone=staff.role is Role.ADMIN and not filters.any,
        )

    built = await service.report(
        runtime.sessions,
        goals=None if source is None else headline,
        period=period,
        filters=filters,
        pain_classes=settings.pain_classes,
    )
    if fmt == "csv":
        return csv_response(report_rows(built), f"report-{period.label}.csv")
    return built


@router.get("/reports/weekly", response_model=Report, responses=_errors)
async def weekly_report(
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    filters: FiltersDep,
    source: HeadlineDep,
    week: Annotated[str, Query(max_length=10, description="ISO week, `YYYY-Www`", examples=["2026-W48"]), STORABLE],
    format: Format = "json",
) -> Report | Response:
    """The weekly review of one ISO week, Monday to Monday in the report time zone."""
    return await _report(
        runtime, settings, ReportWeek.parse(week, settings.report_zone), filters, format, staff, source
    )


@router.get("/reports/monthly", response_model=Report, responses=_errors)
async def monthly_report(
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    filters: FiltersDep,
    source: HeadlineDep,
    month: Annotated[str, Query(max_length=7, description="Calendar month, `YYYY-MM`", examples=["2026-11"]), STORABLE],
    format: Format = "json",
) -> Report | Response:
    """The monthly review of one calendar month in the report time zone."""
    return await _report(
        runtime, settings, ReportMonth.parse(month, settings.report_zone), filters, format, staff, source
    )


@router.get("/reports/tickets", response_model=TicketPage, responses=_errors)
async def report_tickets(
    settings: SettingsDep,
    session: SessionDep,
    _: CurrentStaff,
    filters: FiltersDep,
    period: Annotated[str, Query(max_length=10, description="`YYYY-Www` or `YYYY-MM`"), STORABLE],
    metric: Annotated[str, Query(max_length=40, description="A metric with `drilldown: true`"), STORABLE],
    clock: Annotated[str | None, Query(max_length=30, description="For sla_met / sla_breached: one metric")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[uuid.UUID | None, Query(description="`next_after` of the previous page")] = None,
    format: Format = "json",
) -> TicketPage | Response:
    """The tickets behind one figure of a report (drill-down), a page at a time, or all of
    them as CSV."""
    window = parse_period(period, settings.report_zone)
    if format == "csv":
        rows = await service.all_tickets(session, period=window, metric=metric, filters=filters, clock=clock)
        return csv_response(ticket_rows(rows), f"tickets-{metric}-{window.label}.csv")
    return await service.tickets(
        session, period=window, metric=metric, filters=filters, clock=clock, limit=limit, after=after
    )


@router.get("/metrics", response_model=MetricDictionary)
async def metric_dictionary(_: CurrentStaff) -> MetricDictionary:
    """Every figure of the reports: name, definition, which tickets it counts, formula, unit, the
    events it comes from and where a report shows it."""
    return MetricDictionary(
        items=[
            MetricOut(
                name=m.name,
                title=m.title,
                definition=m.definition,
                formula=m.formula,
                unit=m.unit,
                counts=m.counts,
                source_events=list(m.source_events),
                drilldown=m.drilldown,
                figures=list(m.figures),
            )
            for m in METRICS
        ]
    )
