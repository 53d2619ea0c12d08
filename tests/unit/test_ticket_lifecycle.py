"""intake's ticket lifecycle: the legal transitions and the errors of the others."""

from __future__ import annotations

import pytest

from ticketloop_intake.tickets.domain import Action, Custody, Status, check_access, fingerprint, next_status
from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Forbidden, InvalidTransition


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


def test_a_problem_fingerprint_ignores_case_accents_punctuation_short_words_and_order() -> None:
    key = b"k" * 32
    same = {fingerprint(s, key=key) for s in ("Invoice is wrong!", "wrong INVOICE", "  Wrong   invoïce. ")}
    assert len(same) == 1
    assert fingerprint("Invoice is late", key=key) not in same
    assert fingerprint("Invoice is wrong!", key=b"x" * 32) not in same  # keyed per customer


@pytest.mark.parametrize(
    ("current", "action", "after"),
    [
        (Status.IN_PROGRESS, Action.WAIT, Status.WAITING_ON_CUSTOMER),
        (Status.WAITING_ON_CUSTOMER, Action.CUSTOMER_MESSAGE, Status.IN_PROGRESS),
        (Status.RESOLVED, Action.CUSTOMER_MESSAGE, Status.REOPENED),
        (Status.CLOSED, Action.REOPEN, Status.REOPENED),
        (Status.REOPENED, Action.ASSIGN, Status.IN_PROGRESS),
        (Status.REOPENED, Action.REPLY, Status.IN_PROGRESS),
        (Status.RESOLVED, Action.CONFIRM, Status.CLOSED),
        (Status.RESOLVED, Action.AUTO_CLOSE, Status.CLOSED),
        (Status.WAITING_ON_CUSTOMER, Action.RESOLVE, Status.RESOLVED),
        (Status.CLOSED, Action.NOTE, Status.CLOSED),
    ],
)
def test_the_handling_lifecycle(current: Status, action: Action, after: Status) -> None:
    assert next_status(current, action) == after


@pytest.mark.parametrize(
    ("current", "action"),
    [
        (Status.PENDING_ASSIGNMENT, Action.WAIT),
        (Status.IN_PROGRESS, Action.CONFIRM),
        (Status.CLOSED, Action.AUTO_CLOSE),
        (Status.IN_PROGRESS, Action.FOLLOW_UP),
        (Status.RESOLVED, Action.CHANGE_PRIORITY),
        (Status.CLOSED, Action.PLAN),
    ],
)
def test_the_handling_lifecycle_refuses(current: Status, action: Action) -> None:
    with pytest.raises(InvalidTransition):
        next_status(current, action)


def _staff(role: Role, sub: str = "ana", department: str | None = "finance") -> Principal:
    return Principal(sub=sub, role=role, department=department, jti="j", iat=0, exp=1)


def test_who_may_do_what() -> None:
    held = Custody(department_id="finance", assignee_id="ana")
    check_access(_staff(Role.AGENT), held, Action.RESOLVE)  # the owner
    check_access(_staff(Role.AGENT, sub="bo"), held, Action.NOTE)  # a colleague notes
    check_access(_staff(Role.AGENT, sub="bo"), held)  # and reads
    check_access(_staff(Role.SUPERVISOR, sub="sue"), held, Action.RESOLVE)
    check_access(_staff(Role.ADMIN, department=None), Custody(None, None), Action.RESOLVE)
    refusals = [
        (_staff(Role.AGENT, sub="bo"), held, Action.REPLY, "not_the_assignee"),
        (_staff(Role.SUPERVISOR, department="technical"), held, Action.NOTE, "not_your_department"),
        (_staff(Role.AGENT), Custody(None, None), None, "ticket_not_routed"),
    ]
    for staff, custody, action, code in refusals:
        with pytest.raises(Forbidden) as refused:
            check_access(staff, custody, action)
        assert (refused.value.status_code, refused.value.code) == (403, code)
