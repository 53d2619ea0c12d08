"""The rules as sla publishes them (`sla.policy_changed`, `sla.calendar_changed`, whole
definitions) and a clock as `sla.clocks_changed` shows it: to and from the pure rules, one
translation for the producer (sla) and the reader (intake)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ticketloop_shared.events import (
    ClockKind,
    ClockView,
    SlaCalendarChangedData,
    SlaPolicyChangedData,
    SlaStepDefinition,
    SlaTargetDefinition,
)
from ticketloop_slarules.calendars import Calendar
from ticketloop_slarules.cycles import Cycle
from ticketloop_slarules.policies import ALWAYS, Conditions, Policy, Step, Target


def policy_changed(policy: Policy, *, rules_version: int, at: datetime) -> SlaPolicyChangedData:
    """A policy's whole definition, as published."""
    c = policy.conditions
    return SlaPolicyChangedData(
        policy_id=policy.id,
        version=policy.version,
        rules_version=rules_version,
        name=policy.name,
        position=policy.position,
        channels=sorted(c.channels),
        categories=sorted(c.categories),
        urgencies=sorted(c.urgencies),
        segments=sorted(c.segments),
        needs=sorted(c.needs),
        targets=[
            SlaTargetDefinition(clock=k, minutes=t.minutes, calendar=t.calendar) for k, t in policy.targets.items()
        ],
        pauses={k: sorted(v) for k, v in policy.pauses.items()},
        warning_share=policy.warning_share,
        escalation=[
            SlaStepDefinition(level=s.level, share=s.share, notify=s.notify, group=s.group) for s in policy.escalation
        ],
        changed_at=at,
    )


def policy_of(data: SlaPolicyChangedData) -> Policy:
    """The pure policy a publication describes (not for a deletion)."""
    return Policy(
        id=data.policy_id,
        name=data.name,
        position=data.position,
        conditions=Conditions(
            channels=frozenset(data.channels),
            categories=frozenset(data.categories),
            urgencies=frozenset(data.urgencies),
            segments=frozenset(data.segments),
            needs=frozenset(data.needs),
        ),
        targets={t.clock: Target(t.minutes, t.calendar or ALWAYS) for t in data.targets},
        pauses={k: frozenset(v) for k, v in data.pauses.items()},
        warning_share=data.warning_share,
        escalation=tuple(Step(level=s.level, share=s.share, notify=s.notify, group=s.group) for s in data.escalation),
        version=data.version,
    )


def calendar_changed(
    calendar_id: str, calendar: Calendar, *, version: int, rules_version: int, at: datetime
) -> SlaCalendarChangedData:
    """A calendar's whole definition, as published."""
    return SlaCalendarChangedData(
        calendar_id=calendar_id,
        version=version,
        rules_version=rules_version,
        time_zone=calendar.time_zone,
        week=[list(day) for day in calendar.week],
        holidays=sorted(calendar.holidays),
        changed_at=at,
    )


def calendar_of(data: SlaCalendarChangedData) -> Calendar:
    """The pure calendar a publication describes (not for a deletion)."""
    return Calendar(
        time_zone=data.time_zone,
        week=tuple(tuple((int(a), int(b)) for a, b in day) for day in data.week),
        holidays=frozenset(data.holidays),
    )


def view(c: Cycle) -> ClockView:
    """One clock as `sla.clocks_changed` publishes it (and intake shows it)."""
    return ClockView(
        clock=c.kind,
        cycle=c.cycle,
        status=c.status,
        started_at=c.started_at,
        due_at=c.due_at,
        target_seconds=c.target_seconds,
        paused_seconds=c.paused_seconds,
        stopped_at=c.stopped_at,
        breached_at=c.breached_at,
    )


def views(clocks: Mapping[ClockKind, Cycle]) -> list[ClockView]:
    """Every clock of a ticket, in metric order, as published."""
    return [view(c) for _, c in sorted(clocks.items(), key=lambda kc: kc[1].kind)]
