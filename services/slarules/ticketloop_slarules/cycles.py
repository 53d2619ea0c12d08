"""The life of one clock cycle, in business time, with every rule that starts, pauses,
re-targets, warns, escalates, breaches and stops it.

running ──stop by due──────▶ met        (sla.met, with the business time to spare)
running ──due instant──────▶ breached   (sla.breached; keeps counting for later escalation steps)
running ──pause status─────▶ paused     (no due instant until it runs again)
breached ──stop────────────▶ breached   (stop time and lateness recorded; never retracted)
running/paused ──no longer owed──▶ cancelled
A recurring metric (the periodic update) ends its cycle at each stop or breach and starts the
next one there: each miss is its own breach.

Times are UTC instants; `used_seconds`, `target_seconds` and margins are business seconds of
the cycle's calendar; `paused_seconds` is wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from ticketloop_shared.events import ClockKind, ClockOutcome
from ticketloop_slarules.calendars import Calendar, add_business_time, business_seconds
from ticketloop_slarules.policies import Policy, Step

CalendarOf = Callable[[str], Calendar]

OPEN = frozenset({ClockOutcome.RUNNING, ClockOutcome.PAUSED})
RECURRING = frozenset({ClockKind.PERIODIC_UPDATE})
# A cycle that breaches again and again while nobody looks (sla down for days) is caught up at
# most this many cycles per step; the timer comes back for the rest.
CATCH_UP_CYCLES = 1000


class Announce(StrEnum):
    """What the timer or a stop has to tell the world about a cycle."""

    MET = "met"
    BREACHED = "breached"
    WARNING = "warning"
    ESCALATED = "escalated"


@dataclass(frozen=True)
class Cycle:
    """One cycle of one metric's clock."""

    kind: ClockKind
    cycle: int
    status: ClockOutcome
    started_at: datetime
    target_seconds: float
    calendar: str
    used_seconds: float = 0.0
    resumed_at: datetime | None = None  # start of the stretch now counting; None while paused or stopped
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    due_at: datetime | None = None
    stopped_at: datetime | None = None
    breached_at: datetime | None = None
    warned: bool = False
    escalation_level: int = 0
    next_at: datetime | None = None  # when the timer must look at it next
    margin_seconds: float | None = None
    current: bool = True  # the metric's latest cycle

    @property
    def open(self) -> bool:
        """Still owed: running, paused, or breached and not yet stopped."""
        return self.status in OPEN or (
            self.status == ClockOutcome.BREACHED and self.stopped_at is None and self.current
        )


@dataclass(frozen=True)
class Note:
    """An announcement about a cycle at instant `at` (the fact's time, not when it was noticed)."""

    what: Announce
    cycle: Cycle
    at: datetime
    share: float | None = None
    step: Step | None = None


def used_at(c: Cycle, at: datetime, cal: Calendar) -> float:
    """Business seconds the cycle has used by `at`."""
    if c.resumed_at is None:
        return c.used_seconds
    return c.used_seconds + business_seconds(cal, c.resumed_at, at)


def instant_of(c: Cycle, seconds: float, cal: Calendar) -> datetime:
    """When the cycle, counting from now on, will have used `seconds` (at once if it already has)."""
    assert c.resumed_at is not None
    left = seconds - c.used_seconds
    return c.resumed_at if left <= 0 else add_business_time(cal, c.resumed_at, left)


def start(
    kind: ClockKind,
    *,
    at: datetime,
    target_seconds: float,
    calendar: str,
    policy: Policy,
    cal: Calendar,
    paused: bool = False,
    cycle: int = 1,
) -> Cycle:
    """A new cycle counting from `at` (or paused from `at`, when the ticket's status pauses it)."""
    c = Cycle(
        kind=kind,
        cycle=cycle,
        status=ClockOutcome.RUNNING,
        started_at=at,
        target_seconds=target_seconds,
        calendar=calendar,
        resumed_at=at,
    )
    if paused:
        return replace(c, status=ClockOutcome.PAUSED, resumed_at=None, paused_at=at)
    return schedule(c, policy, cal)


def schedule(c: Cycle, policy: Policy, cal: Calendar) -> Cycle:
    """Due instant and the next instant the timer must act, from what the cycle has used."""
    if c.resumed_at is None or c.stopped_at is not None or not c.current:
        return replace(c, due_at=None if c.status == ClockOutcome.PAUSED else c.due_at, next_at=None)
    due = c.due_at if c.status == ClockOutcome.BREACHED else instant_of(c, c.target_seconds, cal)
    points = _pending(c, policy)
    # Instants grow with the share, so the smallest pending share is the next instant.
    next_at = instant_of(c, points[0][0] * c.target_seconds, cal) if points else None
    return replace(c, due_at=due, next_at=next_at)


def _pending(c: Cycle, policy: Policy) -> list[tuple[float, Note | Step | None]]:
    """The shares of the target at which something is still to be announced, in order."""
    points: list[tuple[float, Note | Step | None]] = []
    if c.status == ClockOutcome.RUNNING:
        if not c.warned:
            points.append((policy.warning_share, None))
        points.append((1.0, None))
    if c.kind not in RECURRING:
        points.extend((s.share, s) for s in policy.escalation if s.level > c.escalation_level)
    else:
        # A recurring cycle ends at its breach: only the steps up to it can happen.
        points.extend((s.share, s) for s in policy.escalation if s.level > c.escalation_level and s.share <= 1.0)
    return sorted(points, key=lambda p: p[0])


def advance(c: Cycle, now: datetime, policy: Policy, cal: Calendar) -> tuple[list[Cycle], list[Note]]:
    """Everything due on the cycle by `now`: warning, breach, escalation steps, each once (a
    warning only when its breach is not due yet too).

    Returns the cycle as it now stands (plus, for a recurring metric, the cycles it started),
    and the notes to announce in order of their instants.
    """
    cycles: list[Cycle] = []
    notes: list[Note] = []
    for _ in range(CATCH_UP_CYCLES):
        if c.next_at is None or c.next_at > now or c.resumed_at is None:
            break
        restart: datetime | None = None
        for share, what in _pending(c, policy):
            at = instant_of(c, share * c.target_seconds, cal)
            if at > now:
                break
            if isinstance(what, Step):
                c = replace(c, escalation_level=what.level)
                notes.append(Note(Announce.ESCALATED, c, at, share=share, step=what))
            elif share < 1.0:
                c = replace(c, warned=True)
                notes.append(Note(Announce.WARNING, c, at, share=share))
            else:
                c = replace(c, status=ClockOutcome.BREACHED, breached_at=at, due_at=at)
                notes.append(Note(Announce.BREACHED, c, at, share=1.0))
                if c.kind in RECURRING:
                    restart = at
        if restart is not None:
            # This miss is one breach; the next cycle starts at its due instant.
            cycles.append(replace(c, current=False, resumed_at=None, next_at=None, used_seconds=c.target_seconds))
            c = start(
                c.kind,
                at=restart,
                target_seconds=c.target_seconds,
                calendar=c.calendar,
                policy=policy,
                cal=cal,
                cycle=c.cycle + 1,
            )
            continue
        c = schedule(c, policy, cal)
    cycles.append(c)
    return cycles, _news(notes)


def _news(notes: list[Note]) -> list[Note]:
    """What a look at a cycle has to tell: a warning the same look overtakes with the cycle's
    breach carries nothing new (the breach says more, and says it at once), so the breach only.
    The cycle still counts as warned: the warning is settled, never told late."""
    breached = {n.cycle.cycle for n in notes if n.what is Announce.BREACHED}
    if not breached:
        return notes
    return [n for n in notes if not (n.what is Announce.WARNING and n.cycle.cycle in breached)]


def stop(c: Cycle, at: datetime, policy: Policy, cal: Calendar) -> tuple[Cycle, Note | None]:
    """The cycle's promise was kept at `at`: met when in time, else breached at its due instant.

    A cycle already breached keeps its breach; the stop and the lateness are recorded and
    nothing new is announced. A stop of an ended cycle changes nothing.
    """
    if not c.open:
        return c, None
    used = used_at(c, at, cal)
    paused = c.paused_seconds + (max(0.0, (at - c.paused_at).total_seconds()) if c.paused_at else 0.0)
    ended = replace(
        c,
        resumed_at=None,
        paused_at=None,
        next_at=None,
        stopped_at=at,
        used_seconds=used,
        paused_seconds=paused,
        margin_seconds=c.target_seconds - used,
    )
    if c.status == ClockOutcome.BREACHED:
        return ended, None
    if used <= c.target_seconds + 1e-6:
        met = replace(ended, status=ClockOutcome.MET)
        return met, Note(Announce.MET, met, at)
    due = instant_of(c, c.target_seconds, cal) if c.resumed_at is not None else at
    late = replace(ended, status=ClockOutcome.BREACHED, breached_at=due, due_at=due)
    return late, Note(Announce.BREACHED, late, due, share=1.0)


def cancel(c: Cycle, at: datetime, cal: Calendar) -> Cycle:
    """The promise is no longer owed (a self-service answer needs no human response); a breach stands."""
    if not c.open:
        return c
    if c.status == ClockOutcome.BREACHED:
        return replace(c, stopped_at=at, resumed_at=None, next_at=None, used_seconds=used_at(c, at, cal))
    paused = c.paused_seconds + (max(0.0, (at - c.paused_at).total_seconds()) if c.paused_at else 0.0)
    return replace(
        c,
        status=ClockOutcome.CANCELLED,
        stopped_at=at,
        resumed_at=None,
        paused_at=None,
        next_at=None,
        due_at=None,
        used_seconds=used_at(c, at, cal),
        paused_seconds=paused,
    )


def pause(c: Cycle, at: datetime, cal: Calendar) -> Cycle:
    """The ticket entered a status that stops this metric counting (a breach keeps counting)."""
    if c.status != ClockOutcome.RUNNING or c.resumed_at is None:
        return c
    return replace(
        c,
        status=ClockOutcome.PAUSED,
        used_seconds=used_at(c, at, cal),
        resumed_at=None,
        paused_at=at,
        due_at=None,
        next_at=None,
    )


def resume(c: Cycle, at: datetime, policy: Policy, cal: Calendar) -> Cycle:
    """The ticket left the pausing status: counting goes on from `at`."""
    if c.status != ClockOutcome.PAUSED or c.paused_at is None:
        return c
    paused = c.paused_seconds + max(0.0, (at - c.paused_at).total_seconds())
    running = replace(
        c, status=ClockOutcome.RUNNING, resumed_at=max(at, c.paused_at), paused_at=None, paused_seconds=paused
    )
    return schedule(running, policy, cal)


def retarget(
    c: Cycle, *, at: datetime, target_seconds: float, calendar: str, policy: Policy, calendar_of: CalendarOf
) -> Cycle:
    """A new target (and calendar) for an open cycle, keeping the business time already used
    under the old calendar; a breach already announced stands."""
    if not c.open or (c.target_seconds == target_seconds and c.calendar == calendar):
        return c
    old = calendar_of(c.calendar)
    if c.resumed_at is not None:
        moved = replace(c, used_seconds=used_at(c, max(at, c.resumed_at), old), resumed_at=max(at, c.resumed_at))
    else:
        moved = c
    moved = replace(moved, target_seconds=target_seconds, calendar=calendar)
    return schedule(moved, policy, calendar_of(calendar))


def elapsed(c: Cycle, now: datetime, cal: Calendar) -> float:
    """Business seconds used so far (up to the stop, for an ended cycle)."""
    if c.stopped_at is not None or c.resumed_at is None:
        return c.used_seconds
    return used_at(c, now, cal)
