"""HTTP: admins write SLA policies and business calendars; staff read them.

Every write names what it expects: `If-Match: "<version>"` (the `ETag` read) to replace or
delete, `If-None-Match: *` to create; without either it is refused with 428 `if_match_required`,
and a change made since that version with 412, so two admins cannot overwrite each other
unknowingly.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ticketloop_shared.api import IfMatchRequired, PutPreconditionDep, RuntimeDep, SessionDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.errors import NotFound, Unprocessable
from ticketloop_sla.policies import repository, service
from ticketloop_sla.policies.models import CalendarRow, HolidayRow, PolicyRow, RuleChange
from ticketloop_sla.policies.schemas import (
    WEEKDAYS,
    CalendarIn,
    CalendarList,
    CalendarOut,
    ChangeList,
    ChangeOut,
    HolidayImport,
    HolidayIn,
    IntervalIn,
    PolicyIn,
    PolicyList,
    PolicyOut,
)
from ticketloop_sla.unit import SlaUowDep

router = APIRouter(prefix="/v1", tags=["sla policies"])

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
MAX_ICAL_BYTES = 1_000_000

_write_errors: dict[int | str, dict[str, object]] = {
    403: {"description": "Only admins change policies and calendars"},
    412: {
        "description": "Not at the `If-Match` version, or exists under `If-None-Match: *` "
        "(`policy_changed` / `calendar_changed`)"
    },
    422: {"description": "Validation error: `invalid_policy` / `invalid_calendar` with every field and reason"},
    428: {"description": "Neither `If-Match` nor (PUT) `If-None-Match: *` was sent (`if_match_required`)"},
}


def policy_out(row: PolicyRow) -> PolicyOut:
    """The read-back of one policy."""
    return PolicyOut.model_validate({**repository.policy_json(repository.policy_of(row)), "updated_at": row.updated_at})


def calendar_out(row: CalendarRow, holidays: list[HolidayRow]) -> CalendarOut:
    """The read-back of one calendar, its week as local HH:MM intervals."""

    def hhmm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    week = {day: [IntervalIn(start=hhmm(a), end=hhmm(b)) for a, b in row.week[i]] for i, day in enumerate(WEEKDAYS)}
    return CalendarOut(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        week=week,
        holidays=[HolidayIn(day=h.day, name=h.name) for h in holidays],
        version=row.version,
        updated_at=row.updated_at,
    )


def _changes(rows: list[RuleChange]) -> ChangeList:
    return ChangeList(
        items=[
            ChangeOut(
                seq=r.seq,
                version=r.version,
                action=r.action,
                actor=r.actor,
                changed_at=r.changed_at,
                snapshot=r.snapshot,
            )
            for r in rows
        ]
    )


@router.get("/policies", response_model=PolicyList)
async def list_policies(session: SessionDep, _: CurrentStaff) -> PolicyList:
    """Every policy in the order they are tried (the first whose conditions hold applies; with
    none, SPEC §2's defaults)."""
    rows = await repository.policies(session)
    return PolicyList(items=[policy_out(r) for r in rows], rules_version=await repository.version(session))


@router.get("/policies/{policy_id}", response_model=PolicyOut, responses={404: {"description": "`policy_not_found`"}})
async def get_policy(policy_id: Id, session: SessionDep, _: CurrentStaff, response: Response) -> PolicyOut:
    """One policy, its version in `ETag`."""
    row = await repository.policy(session, policy_id)
    if row is None:
        raise NotFound(f"no policy {policy_id!r}", code="policy_not_found")
    response.headers["ETag"] = f'"{row.version}"'
    return policy_out(row)


@router.put(
    "/policies/{policy_id}", response_model=PolicyOut, responses={201: {"description": "Created"}, **_write_errors}
)
async def put_policy(
    policy_id: Id,
    body: PolicyIn,
    uow: SlaUowDep,
    admin: CurrentAdmin,
    expected: PutPreconditionDep,
    response: Response,
) -> PolicyOut:
    """Create (`If-None-Match: *`, 201) or replace (`If-Match`, 200) a policy; running clocks of
    the tickets it now covers get its targets, keeping the time they have used."""
    row, created = await service.put_policy(uow, policy_id, body, actor=admin.sub, expected=expected.version)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{row.version}"'
    return policy_out(row)


@router.delete(
    "/policies/{policy_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "`policy_not_found`"}, **_write_errors},
)
async def delete_policy(policy_id: Id, uow: SlaUowDep, admin: CurrentAdmin, if_match: IfMatchRequired) -> Response:
    """Remove a policy at the version read (`If-Match`); its tickets move to the next policy that
    matches."""
    await service.delete_policy(uow, policy_id, actor=admin.sub, version=if_match_version(if_match))
    return Response(status_code=204)


@router.get("/policies/{policy_id}/history", response_model=ChangeList)
async def policy_history(policy_id: Id, session: SessionDep, _: CurrentStaff) -> ChangeList:
    """Every version of a policy, newest first, with who changed it."""
    return _changes(list(await repository.history(session, "policy", policy_id)))


@router.get("/calendars", response_model=CalendarList)
async def list_calendars(session: SessionDep, _: CurrentStaff) -> CalendarList:
    """Every business calendar."""
    rows = await repository.calendars(session)
    return CalendarList(items=[calendar_out(r, list(await repository.holidays(session, r.id))) for r in rows])


@router.get(
    "/calendars/{calendar_id}", response_model=CalendarOut, responses={404: {"description": "`calendar_not_found`"}}
)
async def get_calendar(calendar_id: Id, session: SessionDep, _: CurrentStaff, response: Response) -> CalendarOut:
    """One calendar with its holidays, its version in `ETag`."""
    row = await repository.calendar(session, calendar_id)
    if row is None:
        raise NotFound(f"no calendar {calendar_id!r}", code="calendar_not_found")
    response.headers["ETag"] = f'"{row.version}"'
    return calendar_out(row, list(await repository.holidays(session, calendar_id)))


@router.put(
    "/calendars/{calendar_id}",
    response_model=CalendarOut,
    responses={
        201: {"description": "Created"},
        409: {"description": "`calendar_builtin`: 24x7 cannot be changed"},
        **_write_errors,
    },
)
async def put_calendar(
    calendar_id: Id,
    body: CalendarIn,
    uow: SlaUowDep,
    admin: CurrentAdmin,
    expected: PutPreconditionDep,
    response: Response,
) -> CalendarOut:
    """Create (`If-None-Match: *`, 201) or replace (`If-Match`, 200) a calendar; clocks counting
    in it are re-targeted from now on."""
    row, created = await service.put_calendar(uow, calendar_id, body, actor=admin.sub, expected=expected.version)
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{row.version}"'
    return calendar_out(row, list(await repository.holidays(uow.session, calendar_id)))


@router.delete(
    "/calendars/{calendar_id}",
    status_code=204,
    response_class=Response,
    responses={
        404: {"description": "`calendar_not_found`"},
        409: {"description": "`calendar_in_use` by a policy"},
        **_write_errors,
    },
)
async def delete_calendar(calendar_id: Id, uow: SlaUowDep, admin: CurrentAdmin, if_match: IfMatchRequired) -> Response:
    """Remove a calendar no policy counts in, at the version read (`If-Match`)."""
    await service.delete_calendar(uow, calendar_id, actor=admin.sub, version=if_match_version(if_match))
    return Response(status_code=204)


@router.get("/calendars/{calendar_id}/history", response_model=ChangeList)
async def calendar_history(calendar_id: Id, session: SessionDep, _: CurrentStaff) -> ChangeList:
    """Every version of a calendar, newest first."""
    return _changes(list(await repository.history(session, "calendar", calendar_id)))


@router.post(
    "/calendars/{calendar_id}/holidays/ical",
    response_model=HolidayImport,
    openapi_extra={"requestBody": {"content": {"text/calendar": {"schema": {"type": "string"}}}, "required": True}},
    responses={
        404: {"description": "`calendar_not_found`"},
        413: {"description": "More than 1 MB"},
        422: {"description": "`invalid_icalendar`"},
    },
)
async def import_holidays(
    calendar_id: Id,
    request: Request,
    uow: SlaUowDep,
    runtime: RuntimeDep,
    admin: CurrentAdmin,
    start: Annotated[date | None, Query(alias="from", description="First date to import (default: today)")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last date to import (default: 3 years on)")] = None,
) -> HolidayImport:
    """Add the days an iCalendar (RFC 5545) file's events cover to the calendar's holidays,
    recurring events expanded between `from` and `to`."""
    body = await request.body()
    if len(body) > MAX_ICAL_BYTES:
        raise Unprocessable("an iCalendar file may hold at most 1 MB", code="body_too_large")
    today = runtime.clock.now().date()
    first = start or today
    last = end or first + timedelta(days=3 * 366)
    if last < first or (last - first).days > 20 * 366:
        raise Unprocessable("`to` must be on or after `from`, and at most 20 years later", code="invalid_range")
    row, added = await service.import_holidays(uow, calendar_id, body, start=first, end=last, actor=admin.sub)
    return HolidayImport(
        imported=added, calendar=calendar_out(row, list(await repository.holidays(uow.session, calendar_id)))
    )
