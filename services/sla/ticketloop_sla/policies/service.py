"""Admin changes to policies and calendars: validated whole, versioned, and every change
moves the rules' version so running clocks are re-targeted (see `clocks.scheduled`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.api import etag
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import SlaCalendarChangedData, SlaPolicyChangedData
from ticketloop_shared.state import ProcessState, Slot
from ticketloop_sla.calendars import service as ical
from ticketloop_sla.policies import repository
from ticketloop_sla.policies.models import CalendarRow, HolidayRow, PolicyRow
from ticketloop_sla.policies.schemas import WEEKDAYS, CalendarIn, PolicyIn
from ticketloop_sla.unit import SlaUnit
from ticketloop_slarules import policies as domain
from ticketloop_slarules import published
from ticketloop_slarules.calendars import Calendar, CalendarError
from ticketloop_slarules.calendars import validate as validate_calendar
from ticketloop_slarules.policies import ALWAYS, Conditions, Policy, Rules, Step, Target

# How long the rules in memory are trusted before their version is read again: a change made
# through another replica reaches this one within that time. After a change made here, the
# version is read on every use for a while, since the change commits after `forget` is called.
RULES_TTL_SECONDS = 1.0
CHECK_AFTER_CHANGE_SECONDS = 5.0


@dataclass
class _RulesInMemory:
    """The rules this process last read, when, and until when to re-read their version on every use."""

    rules: Rules | None = None
    checked: float = 0.0
    check_until: float = 0.0


_RULES = Slot("sla rules in force", _RulesInMemory)


async def rules(session: AsyncSession, state: ProcessState) -> Rules:
    """The rules in force, from the process's memory (`state`, the runtime's); their version is
    re-read (one cheap query) at most once a second, and they are reloaded when it moved."""
    memory = state[_RULES]
    now = time.monotonic()
    cached = memory.rules
    if cached is not None and now - memory.checked < RULES_TTL_SECONDS and now > memory.check_until:
        return cached
    current = await repository.version(session)
    if cached is None or cached.version != current:
        cached = await repository.load(session)
    memory.rules, memory.checked = cached, now
    return cached


def forget(state: ProcessState) -> None:
    """A change is being made in this process: check the version on every use for a while."""
    memory = state[_RULES]
    memory.rules = None
    memory.check_until = time.monotonic() + CHECK_AFTER_CHANGE_SECONDS


def _check_version(row_version: int | None, expected: int | None, what: str) -> None:
    """412 `<what>_changed` unless the row is at the version the caller named (`expected`; None:
    the caller means to create it, so it must not exist)."""
    if row_version != expected:
        message = (
            f"the {what} exists (version {row_version}): send If-Match to replace it"
            if expected is None
            else f"the {what} changed since version {expected}"
        )
        raise PreconditionFailed(
            message,
            code=f"{what}_changed",
            details={"expected_version": expected, "current_version": row_version, "current_etag": etag(row_version)},
        )


def policy_from(policy_id: str, body: PolicyIn, *, version: int) -> Policy:
    """The domain policy an admin's body describes."""
    c = body.conditions
    return Policy(
        id=policy_id,
        name=body.name,
        position=body.position,
        conditions=Conditions(
            channels=frozenset(c.channels),
            categories=frozenset(c.categories),
            urgencies=frozenset(c.urgencies),
            segments=frozenset(c.segments),
            needs=frozenset(c.needs),
        ),
        targets={k: Target(t.minutes, t.calendar) for k, t in body.targets.items()},
        pauses={k: frozenset(v) for k, v in body.pauses.items()},
        warning_share=body.warning_share,
        escalation=tuple(Step(level=s.level, share=s.share, notify=s.notify, group=s.group) for s in body.escalation),
        version=version,
    )


async def put_policy(
    uow: SlaUnit, policy_id: str, body: PolicyIn, *, actor: str, expected: int | None
) -> tuple[PolicyRow, bool]:
    """Create (`expected` None) or replace (at version `expected`) a policy; returns it and
    whether it is new."""
    session = uow.session
    row = await repository.policy(session, policy_id, for_update=True)
    _check_version(row.version if row else None, expected, "policy")
    policy = policy_from(policy_id, body, version=(row.version + 1) if row else 1)
    known = {c.id for c in await repository.calendars(session)}
    problems = domain.validate(policy, calendars=known)
    if problems:
        raise Unprocessable(
            f"policy {policy_id!r} is not valid: {problems[0][0]}: {problems[0][1]}",
            code="invalid_policy",
            details=[{"field": f, "reason": r} for f, r in problems],
        )
    stored = repository.policy_json(policy)
    created = row is None
    if row is None:
        row = PolicyRow(id=policy_id)
        session.add(row)
    for field in ("name", "position", "conditions", "targets", "pauses", "warning_share", "escalation", "version"):
        setattr(row, field, stored[field])
    row.updated_at = uow.now()
    await session.flush()
    forget(uow.state)
    seq = await repository.record_change(
        session,
        subject="policy",
        subject_id=policy_id,
        version=policy.version,
        action="created" if created else "updated",
        snapshot=stored,
        actor=actor,
        at=uow.now(),
    )
    uow.emit(published.policy_changed(policy, rules_version=seq, at=uow.now()), subject=policy_id)
    return row, created


async def delete_policy(uow: SlaUnit, policy_id: str, *, actor: str, version: int) -> None:
    """Remove a policy at `version`; the tickets it applied to move to the next matching one."""
    row = await repository.policy(uow.session, policy_id, for_update=True)
    if row is None:
        raise NotFound(f"no policy {policy_id!r}", code="policy_not_found")
    _check_version(row.version, version, "policy")
    await uow.session.delete(row)
    await uow.session.flush()
    forget(uow.state)
    seq = await repository.record_change(
        uow.session,
        subject="policy",
        subject_id=policy_id,
        version=row.version + 1,
        action="deleted",
        snapshot=None,
        actor=actor,
        at=uow.now(),
    )
    uow.emit(
        SlaPolicyChangedData(
            policy_id=policy_id, version=row.version + 1, rules_version=seq, deleted=True, changed_at=uow.now()
        ),
        subject=policy_id,
    )


def calendar_from(body: CalendarIn, holidays: Sequence[date]) -> Calendar:
    """The domain calendar an admin's body describes (validated; errors name the field)."""
    week = tuple(
        tuple(sorted((_minutes(i.start), _minutes(i.end)) for i in body.week.get(day, []))) for day in WEEKDAYS
    )
    calendar = Calendar(time_zone=body.time_zone, week=week, holidays=frozenset(holidays))
    try:
        validate_calendar(calendar)
    except CalendarError as exc:
        raise Unprocessable(
            f"calendar is not valid: {exc}", code="invalid_calendar", details={"reason": str(exc)}
        ) from exc
    return calendar


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


async def put_calendar(
    uow: SlaUnit, calendar_id: str, body: CalendarIn, *, actor: str, expected: int | None
) -> tuple[CalendarRow, bool]:
    """Create (`expected` None) or replace (at version `expected`) a calendar (and its holidays,
    when given)."""
    if calendar_id == ALWAYS:
        raise Conflict("the 24x7 calendar is built in and cannot be changed", code="calendar_builtin")
    session = uow.session
    row = await repository.calendar(session, calendar_id, for_update=True)
    _check_version(row.version if row else None, expected, "calendar")
    existing = [(h.day, h.name) for h in await repository.holidays(session, calendar_id)] if row else []
    days = [(h.day, h.name) for h in body.holidays] if body.holidays is not None else existing
    calendar = calendar_from(body, [d for d, _ in days])
    created = row is None
    if row is None:
        row = CalendarRow(id=calendar_id)
        session.add(row)
    row.name, row.time_zone = body.name, calendar.time_zone
    row.week = [[list(i) for i in day] for day in calendar.week]
    row.version = (row.version or 0) + 1
    row.updated_at = uow.now()
    await session.flush()
    if body.holidays is not None:
        await repository.replace_holidays(session, calendar_id, days)
    await _record_calendar(uow, row, days, action="created" if created else "updated", actor=actor)
    return row, created


async def _record_calendar(
    uow: SlaUnit, row: CalendarRow, days: Sequence[tuple[date, str]], *, action: str, actor: str
) -> None:
    snapshot = {
        "id": row.id,
        "name": row.name,
        "time_zone": row.time_zone,
        "week": row.week,
        "holidays": [{"day": d.isoformat(), "name": n} for d, n in sorted(days)],
        "version": row.version,
    }
    forget(uow.state)
    seq = await repository.record_change(
        uow.session,
        subject="calendar",
        subject_id=row.id,
        version=row.version,
        action=action,
        snapshot=snapshot,
        actor=actor,
        at=uow.now(),
    )
    calendar = repository.calendar_of(row, [d for d, _ in days])
    uow.emit(
        published.calendar_changed(row.id, calendar, version=row.version, rules_version=seq, at=uow.now()),
        subject=row.id,
    )


async def delete_calendar(uow: SlaUnit, calendar_id: str, *, actor: str, version: int) -> None:
    """Remove a calendar no policy counts in, at `version`."""
    row = await repository.calendar(uow.session, calendar_id, for_update=True)
    if row is None:
        raise NotFound(f"no calendar {calendar_id!r}", code="calendar_not_found")
    _check_version(row.version, version, "calendar")
    users = await repository.policies_using(uow.session, calendar_id)
    if users:
        raise Conflict(
            f"calendar {calendar_id!r} is used by {', '.join(users)}",
            code="calendar_in_use",
            details={"policies": users},
        )
    await uow.session.delete(row)
    await uow.session.flush()
    forget(uow.state)
    seq = await repository.record_change(
        uow.session,
        subject="calendar",
        subject_id=calendar_id,
        version=row.version + 1,
        action="deleted",
        snapshot=None,
        actor=actor,
        at=uow.now(),
    )
    uow.emit(
        SlaCalendarChangedData(
            calendar_id=calendar_id, version=row.version + 1, rules_version=seq, deleted=True, changed_at=uow.now()
        ),
        subject=calendar_id,
    )


async def import_holidays(
    uow: SlaUnit, calendar_id: str, text: bytes, *, start: date, end: date, actor: str
) -> tuple[CalendarRow, int]:
    """Add the dates an iCalendar file's events cover in [start, end] to the calendar's holidays."""
    session = uow.session
    row = await repository.calendar(session, calendar_id, for_update=True)
    if row is None:
        raise NotFound(f"no calendar {calendar_id!r}", code="calendar_not_found")
    try:
        parsed = ical.parse_holidays(text, start=start, end=end)
    except ical.ICalError as exc:
        raise Unprocessable(
            f"not a usable iCalendar file: {exc}", code="invalid_icalendar", details={"reason": str(exc)}
        ) from exc
    existing = {h.day: h.name for h in await repository.holidays(session, calendar_id)}
    added = [h for h in parsed if h.day not in existing]
    days = sorted({**existing, **{h.day: h.name for h in added}}.items())
    if len(days) > 5000:
        raise Unprocessable("a calendar holds at most 5000 holidays", code="too_many_holidays")
    await repository.replace_holidays(session, calendar_id, days)
    row.version += 1
    row.updated_at = uow.now()
    await session.flush()
    await _record_calendar(uow, row, days, action="imported", actor=actor)
    return row, len(added)


async def publish_all(uow: SlaUnit) -> int:
    """Publish every policy and calendar as it stands (sla's start): a reader that joins late, or
    rules older than their publication, are then known wherever deadlines are computed; a
    repeated publication of the same version changes nothing for a reader. Returns how many."""
    current = await repository.load(uow.session)
    now = uow.now()
    for policy in current.policies:
        uow.emit(published.policy_changed(policy, rules_version=current.version, at=now), subject=policy.id)
    rows = {r.id: r for r in await repository.calendars(uow.session)}
    for calendar_id, calendar in current.calendars.items():
        version = rows[calendar_id].version if calendar_id in rows else 1
        uow.emit(
            published.calendar_changed(calendar_id, calendar, version=version, rules_version=current.version, at=now),
            subject=calendar_id,
        )
    return len(current.policies) + len(current.calendars)


async def holidays_of(session: AsyncSession, calendar_id: str) -> Sequence[HolidayRow]:
    """A calendar's holidays."""
    return await repository.holidays(session, calendar_id)
