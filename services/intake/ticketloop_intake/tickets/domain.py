"""The ticket lifecycle: every legal transition is listed here and nowhere else."""

from __future__ import annotations

from enum import StrEnum

from ticketloop_shared.errors import InvalidTransition


class Status(StrEnum):
    """Where a ticket is in its life."""

    PENDING_ASSIGNMENT = "pending_assignment"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    """What can happen to a ticket."""

    ASSIGN = "assign"
    REPLY = "reply"
    RESOLVE = "resolve"


_TRANSITIONS: dict[Action, dict[Status, Status]] = {
    # An assignment arriving after resolution (events may be late) records the owner only.
    Action.ASSIGN: {
        Status.PENDING_ASSIGNMENT: Status.IN_PROGRESS,
        Status.IN_PROGRESS: Status.IN_PROGRESS,
        Status.RESOLVED: Status.RESOLVED,
        Status.CLOSED: Status.CLOSED,
    },
    Action.REPLY: {
        Status.PENDING_ASSIGNMENT: Status.IN_PROGRESS,
        Status.IN_PROGRESS: Status.IN_PROGRESS,
        Status.RESOLVED: Status.RESOLVED,
    },
    Action.RESOLVE: {
        Status.PENDING_ASSIGNMENT: Status.RESOLVED,
        Status.IN_PROGRESS: Status.RESOLVED,
    },
}


def next_status(current: Status, action: Action) -> Status:
    """The status after `action`, or `InvalidTransition` naming both."""
    try:
        return _TRANSITIONS[action][current]
    except KeyError:
        raise InvalidTransition(
            f"cannot {action.value} a ticket that is {current.value}",
            code=f"ticket_{current.value}",
            details={"status": current.value, "action": action.value},
        ) from None


def transitions(action: Action) -> dict[Status, Status]:
    """Every legal `from → to` of one action (for statements that apply the rule in SQL)."""
    return dict(_TRANSITIONS[action])
