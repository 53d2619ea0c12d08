"""All SQL about policies, calendars, holidays and their history; JSON columns to domain objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.events import ClockKind, EscalationTarget
from ticketloop_sla.policies.models import CalendarRow, HolidayRow, PolicyRow, RuleChange
from ticketloop_slarules.calendars import Calendar
from ticketloop_slarules.policies import Conditions, Policy, Rules, Step, Target


def policy_json(p: Policy) -> dict[str, Any]:
    """A policy as its JSON columns (and the history snapshot) hold it."""
    c = p.conditions
    return {
        "id": p.id,
        "name": p.name,
        "position": p.position,
        "conditions": {
            "channels": sorted(c.channels),
            "categories": sorted(c.categories),
            "urgencies": sorted(c.urgencies),
            "segments": sorted(c.segments),
            "needs": sorted(c.needs),
        },
        "targets": {k.value: {"minutes": t.minutes, "calendar": t.calendar} for k, t in p.targets.items()},
        "pauses": {k.value: sorted(v) for k, v in p.pauses.items()},
        "warning_share": p.warning_share,
        "escalation": [
            {"level": s.level, "share": s.share, "notify": s.notify.value, "group": s.group} for s in p.escalation
        ],
        "version": p.version,
    }


def policy_of(row: PolicyRow) -> Policy:
    """The domain policy a row holds."""
    c = row.conditions
    return Policy(
        id=row.id,
        name=row.name,
        position=row.position,
        conditions=Conditions(
            channels=frozenset(c.get("channels", ())),
            categories=frozenset(c.get("categories", ())),
            urgencies=frozenset(c.get("urgencies", ())),
            segments=frozenset(c.get("segments", ())),
            needs=frozenset(c.get("needs", ())),
        ),
        targets={
            ClockKind(k): Target(float(t["minutes"]), t.get("calendar") or "24x7") for k, t in row.targets.items()
        },
        pauses={ClockKind(k): frozenset(v) for k, v in row.pauses.items()},
        warning_share=row.warning_share,
        escalation=tuple(
            Step(
                level=int(s["level"]),
                share=float(s["share"]),
                notify=EscalationTarget(s["notify"]),
                group=s.get("group"),
            )
            for s in row.escalation
        ),
        version=row.version,
    )


def calendar_of(row: CalendarRow, holidays: Sequence[date]) -> Calendar:
    """The domain calendar a row and its holidays hold."""
    week = tuple(tuple((int(a), int(b)) for a, b in day) for day in row.week)
    return Calendar(time_zone=row.time_zone, week=week, holidays=frozenset(holidays))


async def version(session: AsyncSession) -> int:
    """The rules' version: the sequence number of the latest policy or calendar change."""
    return int(await session.scalar(select(func.coalesce(func.max(RuleChange.seq), 0))) or 0)


async def load(session: AsyncSession) -> Rules:
    """Every policy and calendar, at the version read in the same snapshot."""
    current = await version(session)
    policies = [policy_of(r) for r in (await session.scalars(select(PolicyRow))).all()]
    days: dict[str, list[date]] = defaultdict(list)
    for h in (await session.scalars(select(HolidayRow))).all():
        days[h.calendar_id].append(h.day)
    calendars = {r.id: calendar_of(r, days[r.id]) for r in (await session.scalars(select(CalendarRow))).all()}
    return Rules(policies=policies, calendars=calendars, version=current)


async def policies(session: AsyncSession) -> Sequence[PolicyRow]:
    """Every policy, in the order they are tried."""
    return (await session.scalars(select(PolicyRow).order_by(PolicyRow.position, PolicyRow.id))).all()


async def policy(session: AsyncSession, policy_id: str, *, for_update: bool = False) -> PolicyRow | None:
    """One policy row."""
    stmt = select(PolicyRow).where(PolicyRow.id == policy_id)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def calendars(session: AsyncSession) -> Sequence[CalendarRow]:
    """Every calendar."""
    return (await session.scalars(select(CalendarRow).order_by(CalendarRow.id))).all()


async def calendar(session: AsyncSession, calendar_id: str, *, for_update: bool = False) -> CalendarRow | None:
    """One calendar row."""
    stmt = select(CalendarRow).where(CalendarRow.id == calendar_id)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def holidays(session: AsyncSession, calendar_id: str) -> Sequence[HolidayRow]:
    """A calendar's holidays, in date order."""
    return (
        await session.scalars(select(HolidayRow).where(HolidayRow.calendar_id == calendar_id).order_by(HolidayRow.day))
    ).all()


async def replace_holidays(session: AsyncSession, calendar_id: str, days: Sequence[tuple[date, str]]) -> None:
    """Make `days` the calendar's holidays."""
    await session.execute(delete(HolidayRow).where(HolidayRow.calendar_id == calendar_id))
    if days:
        await session.execute(
            insert(HolidayRow).on_conflict_do_nothing(),
            [{"calendar_id": calendar_id, "day": d, "name": n} for d, n in days],
        )


async def record_change(
    session: AsyncSession,
    *,
    subject: str,
    subject_id: str,
    version: int,
    action: str,
    snapshot: dict[str, Any] | None,
    actor: str,
    at: datetime,
) -> int:
    """Append to the history; its sequence number becomes the rules' version (returned)."""
    change = RuleChange(
        subject=subject,
        subject_id=subject_id,
        version=version,
        action=action,
        snapshot=snapshot,
        actor=actor,
        changed_at=at,
    )
    session.add(change)
    await session.flush()
    return change.seq


async def history(session: AsyncSession, subject: str, subject_id: str) -> Sequence[RuleChange]:
    """Every change of one policy or calendar, newest first."""
    return (
        await session.scalars(
            select(RuleChange)
            .where(RuleChange.subject == subject, RuleChange.subject_id == subject_id)
            .order_by(RuleChange.seq.desc())
        )
    ).all()


async def policies_using(session: AsyncSession, calendar_id: str) -> list[str]:
    """Ids of the policies that count some metric in `calendar_id`."""
    return [
        p.id
        for p in (await session.scalars(select(PolicyRow))).all()
        if any((t.get("calendar") or "24x7") == calendar_id for t in p.targets.values())
    ]
