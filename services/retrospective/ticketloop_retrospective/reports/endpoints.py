"""HTTP: staff read the reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ticketloop_retrospective.reports import service
from ticketloop_retrospective.reports.schemas import WeeklyReport
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1/reports", tags=["reports"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    422: {"description": "`week` missing, or not an ISO week (`invalid_week`)"},
}


@router.get("/weekly", response_model=WeeklyReport, responses=_errors)
async def weekly_report(
    request: Request,
    session: SessionDep,
    _: CurrentStaff,
    week: Annotated[str, Query(max_length=10, description="ISO week, `YYYY-Www`", examples=["2026-W48"]), STORABLE],
) -> WeeklyReport:
    """The weekly review of one ISO week, Monday to Monday in the report time zone."""
    settings: RetrospectiveSettings = request.app.state.settings
    return await service.weekly_report(session, week=week, zone=settings.report_zone)
