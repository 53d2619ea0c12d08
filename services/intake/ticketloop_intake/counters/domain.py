"""The rules of counter queues, as pure functions: an entry's lifecycle, its number, the
estimated wait from the counter's recent service rate, and when a wait is exceeded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ticketloop_shared.errors import InvalidTransition

# A counter's name: a lower-case slug (it appears in URLs and events).
COUNTER_SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
NUMBER_DIGITS = 3


class EntryStatus(StrEnum):
    """Where a queue number is."""

    WAITING = "waiting"
    SERVED = "served"
    CANCELLED = "cancelled"


class EntryAction(StrEnum):
    """What can happen to a queue number."""

    SERVE = "serve"
    CANCEL = "cancel"


_TRANSITIONS: dict[EntryAction, dict[EntryStatus, EntryStatus]] = {
    EntryAction.SERVE: {EntryStatus.WAITING: EntryStatus.SERVED},
    EntryAction.CANCEL: {EntryStatus.WAITING: EntryStatus.CANCELLED},
}


def next_status(current: EntryStatus, action: EntryAction) -> EntryStatus:
    """The status after `action`, or `InvalidTransition` (409) naming the current status."""
    try:
        return _TRANSITIONS[action][current]
    except KeyError:
        raise InvalidTransition(
            f"cannot {action.value} a queue number that is {current.value}",
            code=f"entry_{current.value}",
            details={"status": current.value, "action": action.value},
        ) from None


def local_day(at: datetime, time_zone: str) -> date:
    """The counter's calendar day at `at` (numbering restarts at its local midnight)."""
    return at.astimezone(ZoneInfo(time_zone)).date()


def queue_number(prefix: str, seq: int) -> str:
    """The number a customer is called by: prefix and at least three digits (`A001`)."""
    return f"{prefix}{seq:0{NUMBER_DIGITS}d}"


def service_interval(served_at: Sequence[datetime]) -> timedelta | None:
    """The counter's recent pace: the mean time between consecutive serves (the span of the
    serves over their count minus one); None with fewer than two serves to measure it."""
    if len(served_at) < 2:
        return None
    return (max(served_at) - min(served_at)) / (len(served_at) - 1)


@dataclass(frozen=True)
class Pace:
    """How long one position in the queue takes at a counter, and what that is based on."""

    per_position: timedelta
    from_history: bool


def pace(served_at: Sequence[datetime], *, default: timedelta) -> Pace:
    """The measured service interval when there is one (never zero: serves recorded in the
    same instant would otherwise promise no wait), else the default per position."""
    measured = service_interval(served_at)
    if measured is None:
        return Pace(per_position=default, from_history=False)
    return Pace(per_position=max(measured, timedelta(seconds=1)), from_history=True)


def estimated_wait(position: int, per_position: timedelta) -> timedelta:
    """The wait of the customer at `position` (1 is next): one service interval per position."""
    return per_position * max(position, 1)


def waited(joined_at: datetime, *, until: datetime) -> timedelta:
    """How long a customer has waited (never negative, whatever the clocks did)."""
    return max(until - joined_at, timedelta(0))


def wait_exceeded(joined_at: datetime, *, until: datetime, limit: timedelta) -> bool:
    """Whether a wait has gone past the limit (SPEC §1: an apology/care action past 20 minutes)."""
    return waited(joined_at, until=until) > limit
