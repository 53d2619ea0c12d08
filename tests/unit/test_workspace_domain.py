"""The workspace's pure rules: which actions a ticket offers (intake's lifecycle mirrored), the
CSRF token of a session, safe return addresses, and how times and refusals read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ticketloop_intake.tickets.domain import Action as IntakeAction
from ticketloop_intake.tickets.domain import transitions
from ticketloop_shared.csrf import csrf_token, csrf_valid, same_origin
from ticketloop_workspace.domain import (
    HOME,
    Action,
    AttachmentLimits,
    allowed_actions,
    api_reason,
    check_files,
    clock_rows,
    countdown,
    csrf_key,
    looks_like_number,
    overdue_waits,
    page_window,
    readable_size,
    safe_return,
)

STATUSES = ("pending_assignment", "in_progress", "waiting_on_customer", "resolved", "closed", "reopened")
SAME_STEP = {
    Action.REPLY: IntakeAction.REPLY,
    Action.NOTE: IntakeAction.NOTE,
    Action.PLAN: IntakeAction.PLAN,
    Action.UPDATE: IntakeAction.UPDATE,
    Action.WAIT: IntakeAction.WAIT,
    Action.RESOLVE: IntakeAction.RESOLVE,
    Action.FOLLOW_UP: IntakeAction.FOLLOW_UP,
    Action.RECATEGORISE: IntakeAction.RECATEGORISE,
    Action.CHANGE_URGENCY: IntakeAction.CHANGE_PRIORITY,
}


@pytest.mark.parametrize("status", STATUSES)
def test_the_owner_is_offered_exactly_the_steps_intakes_lifecycle_allows(status: str) -> None:
    offered = allowed_actions(status, role="agent", me="a1", assignee_id="a1")
    expected = {ours for ours, theirs in SAME_STEP.items() if status in {s.value for s in transitions(theirs)}}
    assert offered == expected


def test_another_agent_may_only_add_notes_and_a_supervisor_everything() -> None:
    assert allowed_actions("in_progress", role="agent", me="a2", assignee_id="a1") == {Action.NOTE}
    assert allowed_actions("in_progress", role="agent", me="a2", assignee_id=None) == {Action.NOTE}
    assert Action.RESOLVE in allowed_actions("in_progress", role="supervisor", me="s", assignee_id="a1")
    assert Action.WAIT not in allowed_actions("resolved", role="admin", me="x", assignee_id="a1")
    assert allowed_actions("closed", role="supervisor", me="s", assignee_id="a1") == {Action.NOTE, Action.FOLLOW_UP}


def test_the_csrf_token_is_bound_to_the_session_and_the_install() -> None:
    key = csrf_key("secret-one-0123456789")
    token = csrf_token(key, "jti-1")
    assert csrf_valid(key, "jti-1", token)
    assert not csrf_valid(key, "jti-2", token)
    assert not csrf_valid(csrf_key("secret-two-0123456789"), "jti-1", token)
    assert not csrf_valid(key, "jti-1", None) and not csrf_valid(key, "jti-1", "")
    assert key != b"secret-one-0123456789"


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        (None, "ws.example", True),
        ("https://ws.example", "ws.example", True),
        ("https://evil.example", "ws.example", False),
        ("null", "ws.example", False),
        ("http://127.0.0.1:8006", "127.0.0.1:8006", True),
    ],
)
def test_a_form_comes_from_this_site_when_its_origin_is_the_host(origin: str | None, host: str, same: bool) -> None:
    assert same_origin(origin, host) is same


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, HOME),
        ("/workspace/tickets/1", "/workspace/tickets/1"),
        ("//evil.example/workspace", HOME),
        ("https://evil.example/workspace", HOME),
        ("/dashboard", HOME),
        ("/workspace/login?next=x", HOME),
        ("/workspace\\..", HOME),
    ],
)
def test_sign_in_returns_only_to_a_workspace_page(target: str | None, expected: str) -> None:
    assert safe_return(target) == expected


def test_countdowns_read_at_a_glance() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert countdown(now + timedelta(minutes=5, seconds=3), now) == "in 5 min 03 s"
    assert countdown(now + timedelta(hours=1, minutes=5), now) == "in 1 h 05 min"
    assert countdown(now - timedelta(seconds=42), now) == "overdue by 42 s"
    assert countdown(now + timedelta(days=3, hours=2), now) == "in 3 d 2 h"


def test_a_refusal_reads_as_the_apis_code_and_message() -> None:
    assert api_reason(409, {"error": {"code": "ticket_resolved", "message": "cannot wait"}}) == (
        "ticket_resolved",
        "cannot wait",
    )
    assert api_reason(404, {"detail": "Not Found"}) == ("404", "Not Found")
    assert api_reason(502, None) == ("502", "the service answered 502")


def test_ticket_numbers_are_told_from_words() -> None:
    assert looks_like_number("T20261123000042")
    assert not looks_like_number("charged twice") and not looks_like_number("12345") and not looks_like_number("")


def test_pages_of_a_list() -> None:
    assert page_window(0, 25, 10) == (None, None)
    assert page_window(0, 25, 60) == (None, 25)
    assert page_window(50, 25, 60) == (25, None)


def test_each_clock_shows_its_current_cycle() -> None:
    sla = {
        "clocks": [
            {"clock": "update", "cycle": 1, "status": "met"},
            {"clock": "update", "cycle": 2, "status": "running"},
            {"clock": "resolution", "cycle": 1, "status": "paused"},
        ]
    }
    rows = clock_rows(sla)
    assert [(r["clock"], r["cycle"]) for r in rows] == [("update", 2), ("resolution", 1)]
    assert clock_rows(None) == []


LIMITS = AttachmentLimits(max_bytes=100, max_count=2, max_total_bytes=150)


def test_a_replys_files_are_held_to_intakes_limits_with_intakes_codes() -> None:
    assert check_files([], LIMITS) is None
    assert check_files([("a.png", 100), ("b.pdf", 50)], LIMITS) is None
    too_many = check_files([("a", 1), ("b", 1), ("c", 1)], LIMITS)
    assert too_many is not None and (too_many.status, too_many.code) == (422, "too_many_attachments")
    one = check_files([("big.pdf", 101)], LIMITS)
    assert one is not None and (one.status, one.code) == (413, "attachment_too_large") and "big.pdf" in one.message
    together = check_files([("a.png", 100), ("b.png", 51)], LIMITS)
    assert together is not None and (together.status, together.code) == (413, "attachments_too_large")


def test_the_intake_defaults_are_the_workspaces_defaults() -> None:
    from ticketloop_intake.settings import IntakeSettings
    from ticketloop_workspace.settings import WorkspaceSettings

    intake, ours = IntakeSettings(), WorkspaceSettings().attachment_limits
    assert (ours.max_bytes, ours.max_count, ours.max_total_bytes) == (
        intake.attachment_max_bytes,
        intake.attachment_max_count,
        intake.attachment_max_total_bytes,
    )
    assert ours.form_bytes > ours.max_total_bytes


def test_sizes_read_as_people_read_them() -> None:
    assert readable_size(10 * 1024 * 1024) == "10 MB"
    assert readable_size(512 * 1024) == "512 KB"
    assert readable_size(300) == "300 bytes"


def test_counter_numbers_over_the_limit_come_first_longest_wait_first() -> None:
    queues: list[dict[str, Any]] = [
        {
            "counter": "main",
            "entries": [
                {"id": "1", "number": "A001", "waited_seconds": 1500, "wait_exceeded": True},
                {"id": "2", "number": "A002", "waited_seconds": 300, "wait_exceeded": False},
            ],
        },
        {"counter": "north", "entries": [{"id": "3", "number": "N001", "waited_seconds": 1800, "wait_exceeded": True}]},
        {"counter": "east", "entries": []},
    ]
    assert [(w["number"], w["counter"]) for w in overdue_waits(queues)] == [("N001", "north"), ("A001", "main")]
    assert overdue_waits([]) == []
