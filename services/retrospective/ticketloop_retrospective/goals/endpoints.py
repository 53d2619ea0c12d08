"""HTTP: staff read the goals of a period against their baselines; admins choose a goal's
baseline period (audited, `If-Match`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.goals import service
from ticketloop_retrospective.goals.domain import GOALS
from ticketloop_retrospective.goals.schemas import (
    BaselineIn,
    BaselineList,
    BaselineOut,
    GoalsOut,
    HeadlineGoal,
    headline_goal,
)
from ticketloop_retrospective.reports.domain import Filters, Period, ReportWeek, parse_period
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import SettingsDep
from ticketloop_shared.api import IfMatchRequired, PutPreconditionDep, RuntimeDep, SessionDep, UowDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff, Role, department_scope
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1/goals", tags=["goals"])

GoalName = Annotated[str, Path(max_length=64, description=f"One of {', '.join(GOALS)}.")]
Name = Annotated[str | None, Query(max_length=100), STORABLE]
_not_found: dict[int | str, dict[str, object]] = {404: {"description": "No such goal (`goal_not_found`)"}}
_preconditions: dict[int | str, dict[str, object]] = {
    412: {
        "description": "The baseline is not at the `If-Match` version, or exists under `If-None-Match: *` "
        "(`goal_baseline_changed`)"
    },
    428: {"description": "Neither `If-Match` nor `If-None-Match: *` was sent (`if_match_required`)"},
}


async def report_headline(
    session: AsyncSession,
    *,
    period: Period,
    filters: Filters,
    settings: RetrospectiveSettings,
    now: datetime,
    everyone: bool,
) -> list[HeadlineGoal]:
    """The goals block of a weekly or monthly report (reports' `HeadlineSource`, wired by the app)."""
    rows = await service.headline(
        session,
        starts_at=period.starts_at,
        ends_at=period.ends_at,
        filters=filters,
        settings=settings,
        now=now,
        segment_goals=everyone,
    )
    return [headline_goal(r) for r in rows]


def _out(baseline: service.Baseline) -> BaselineOut:
    window, row = baseline.window, baseline.row
    return BaselineOut(
        goal=baseline.goal,
        period=None if window is None else window.label,
        starts_at=None if window is None else window.starts_at,
        ends_at=None if window is None else window.ends_at,
        source=baseline.source.value,
        version=None if row is None else row.version,
        updated_at=None if row is None else row.updated_at,
        updated_by=None if row is None else row.updated_by,
    )


@router.get("", response_model=GoalsOut)
async def read_goals(
    runtime: RuntimeDep,
    settings: SettingsDep,
    session: SessionDep,
    staff: CurrentStaff,
    period: Annotated[
        str | None, Query(max_length=10, description="`YYYY-Www` or `YYYY-MM`; default: the last complete week")
    ] = None,
    channel: Name = None,
    category: Name = None,
    department: Name = None,
    segment: Name = None,
) -> GoalsOut:
    """Every headline goal over the period against its baseline period: baseline, current, target
    and met (or why it is unmeasured). The segment goals come with an admin's unfiltered read."""
    zone = settings.report_zone
    now = runtime.clock.now()
    window = parse_period(period, zone) if period is not None else ReportWeek.containing(now, zone).previous(zone)
    filters = Filters(
        channel=channel, category=category, department=department_scope(staff, department), segment=segment
    )
    rows = await service.headline(
        session,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        filters=filters,
        settings=settings,
        now=now,
        segment_goals=staff.role is Role.ADMIN and not filters.any,
    )
    return GoalsOut(
        period=window.label,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        goals=[headline_goal(r) for r in rows],
    )


@router.get("/baselines", response_model=BaselineList)
async def list_baselines(settings: SettingsDep, session: SessionDep, _: CurrentStaff) -> BaselineList:
    """Every goal's baseline period and who chose it (admin, setting or the default)."""
    chosen = await service.baselines(session, settings=settings)
    return BaselineList(items=[_out(chosen[g]) for g in GOALS])


@router.get("/{goal}/baseline", response_model=BaselineOut, responses=_not_found)
async def read_baseline(
    goal: GoalName, settings: SettingsDep, session: SessionDep, _: CurrentStaff, response: Response
) -> BaselineOut:
    """One goal's baseline period; when an admin set it, its `ETag` is the version to send back as
    `If-Match`."""
    baseline = await service.baseline_of(session, goal, settings=settings)
    if baseline.row is not None:
        response.headers["ETag"] = f'"{baseline.row.version}"'
    return _out(baseline)


@router.put(
    "/{goal}/baseline",
    response_model=BaselineOut,
    responses={201: {"description": "Set", "model": BaselineOut}, **_not_found, **_preconditions},
)
async def put_baseline(
    goal: GoalName,
    body: BaselineIn,
    uow: UowDep,
    settings: SettingsDep,
    admin: CurrentAdmin,
    response: Response,
    expected: PutPreconditionDep,
) -> BaselineOut:
    """Set (201, `If-None-Match: *`) or replace (200, `If-Match`) the baseline period a goal is
    measured against, overriding the setting and the default; audited."""
    row, created = await service.set_baseline(uow, goal=goal, period=body.period, expected=expected, by=admin)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{row.version}"'
    return _out(await service.baseline_of(uow.session, goal, settings=settings))


@router.delete("/{goal}/baseline", status_code=204, response_class=Response, responses={**_not_found, **_preconditions})
async def delete_baseline(goal: GoalName, uow: UowDep, admin: CurrentAdmin, if_match: IfMatchRequired) -> Response:
    """Remove an admin's baseline at the version read: the goal falls back to the setting, then the
    default; audited."""
    await service.clear_baseline(uow, goal=goal, version=if_match_version(if_match), by=admin)
    return Response(status_code=204)
