"""intake's ticket lifecycle: the legal transitions and the errors of the others."""

from __future__ import annotations

import pytest

from ticketloop_intake.tickets.domain import Action, Status, next_status
from ticketloop_shared.errors import InvalidTransition


@pytest.mark.parametrize(
    ("current", "action", "after"),
    [
        (Status.PENDING_ASSIGNMENT, Action.ASSIGN, Status.IN_PROGRESS),
        (Status.PENDING_ASSIGNMENT, Action.REPLY, Status.IN_PROGRESS),
        (Status.IN_PROGRESS, Action.RESOLVE, Status.RESOLVED),
        (Status.PENDING_ASSIGNMENT, Action.RESOLVE, Status.RESOLVED),
        (Status.RESOLVED, Action.ASSIGN, Status.RESOLVED),
        (Status.RESOLVED, Action.REPLY, Status.RESOLVED),
    ],
)
def test_legal_transitions(current: Status, action: Action, after: Status) -> None:
    assert next_status(current, action) == after


@pytest.mark.parametrize(
    ("current", "action"),
    [(Status.RESOLVED, Action.RESOLVE), (Status.CLOSED, Action.REPLY), (Status.CLOSED, Action.RESOLVE)],
)
def test_illegal_transitions_raise_a_409_naming_the_status(current: Status, action: Action) -> None:
    with pytest.raises(InvalidTransition) as err:
        next_status(current, action)
    assert err.value.status_code == 409
    assert err.value.code == f"ticket_{current.value}"
