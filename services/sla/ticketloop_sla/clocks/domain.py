"""The clock lifecycle: every legal transition is listed here and nowhere else.

running ──stopped in time──▶ met        (announce sla.met)
running ──stopped late─────▶ breached   (announce sla.breached)
running ──deadline passed──▶ breached   (announce sla.breached)
breached ──stopped─────────▶ breached   (stop time recorded; the breach was already announced)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ticketloop_shared.errors import InvalidTransition
from ticketloop_shared.events import ClockOutcome, EventType


class Trigger(StrEnum):
    """What can happen to a clock."""

    STOP_IN_TIME = "stop_in_time"
    STOP_LATE = "stop_late"
    DEADLINE = "deadline"


_TRANSITIONS: dict[tuple[ClockOutcome, Trigger], tuple[ClockOutcome, EventType | None]] = {
    (ClockOutcome.RUNNING, Trigger.STOP_IN_TIME): (ClockOutcome.MET, EventType.SLA_MET),
    # The sweep had not run yet when the stop arrived: the deadline passed all the same.
    (ClockOutcome.RUNNING, Trigger.STOP_LATE): (ClockOutcome.BREACHED, EventType.SLA_BREACHED),
    (ClockOutcome.RUNNING, Trigger.DEADLINE): (ClockOutcome.BREACHED, EventType.SLA_BREACHED),
    # A breach is announced once and never retracted, even when the stop turns out to be in time
    # (its event reached us after the sweep).
    (ClockOutcome.BREACHED, Trigger.STOP_IN_TIME): (ClockOutcome.BREACHED, None),
    (ClockOutcome.BREACHED, Trigger.STOP_LATE): (ClockOutcome.BREACHED, None),
}


@dataclass(frozen=True)
class ClockState:
    """The part of a clock its lifecycle depends on."""

    status: ClockOutcome
    due_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True)
class Change:
    """What a clock becomes, and the event that announces it (None: nothing new to announce)."""

    status: ClockOutcome
    stopped_at: datetime | None
    breached_at: datetime | None
    announce: EventType | None


def _transition(state: ClockState, trigger: Trigger) -> tuple[ClockOutcome, EventType | None]:
    try:
        return _TRANSITIONS[(state.status, trigger)]
    except KeyError:
        raise InvalidTransition(
            f"a {state.status.value} clock cannot take {trigger.value}",
            code=f"clock_{state.status.value}",
            details={"status": state.status.value, "trigger": trigger.value},
        ) from None


def stop(state: ClockState, *, at: datetime) -> Change | None:
    """The clock stopped at `at`; None when it was already stopped, so repeats have no effect."""
    if state.stopped_at is not None:
        return None
    trigger = Trigger.STOP_IN_TIME if at <= state.due_at else Trigger.STOP_LATE
    status, announce = _transition(state, trigger)
    breached_at = state.breached_at
    if status == ClockOutcome.BREACHED and breached_at is None:
        breached_at = state.due_at
    return Change(status=status, stopped_at=at, breached_at=breached_at, announce=announce)


def expire(state: ClockState, *, now: datetime) -> Change | None:
    """The deadline check at `now`; None while the clock is not due or no longer running."""
    if state.status != ClockOutcome.RUNNING or now < state.due_at:
        return None
    status, announce = _transition(state, Trigger.DEADLINE)
    return Change(status=status, stopped_at=state.stopped_at, breached_at=state.due_at, announce=announce)
