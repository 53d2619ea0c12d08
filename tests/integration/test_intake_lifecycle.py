"""The ticket lifecycle over real HTTP, on a real PostgreSQL and broker: every transition, its
events, the 409 of an illegal one, the customer's messages and no-login link, auto-close, and who
may do what."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.builders import Story
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    assign_in_intake,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import scheduled
from ticketloop_shared.auth import Role
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings

OWNER = agent_headers("agent-test", department="after_sales")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def owned_ticket(intake: RunningService, platform: PlatformSettings, **overrides: Any) -> dict[str, Any]:
    """A ticket routed to after-sales and owned by `agent-test`."""
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    await assign_in_intake(intake, platform, ticket)
    return ticket


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def ticket_events(events: list[dict[str, Any]], ticket_id: str) -> list[dict[str, Any]]:
    """What intake announced about one ticket, in order (the test's own `ticket.assigned` is left
    out: it reaches the topic at a different moment than intake's relay)."""
    return [e for e in events if e["subject"] == ticket_id and e["source"] == "intake"]


async def test_a_ticket_walks_the_whole_lifecycle_and_every_step_is_an_event(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    committed_at = clock.now() + timedelta(days=1)
    committed = committed_at.isoformat()

    r = await intake.client.post(
        f"{url}/plan", json={"summary": "Refund via card", "committed_resolution_at": committed}, headers=OWNER
    )
    assert r.status_code == 200, r.text
    assert at(r.json()["resolution_times"]["committed"]) == committed_at
    assert r.json()["status"] == "in_progress"

    r = await intake.client.post(f"{url}/waiting", json={"body": "Which card was it?"}, headers=OWNER)
    assert (r.json()["status"], at(r.json()["waiting_since"])) == ("waiting_on_customer", clock.now())

    clock.set(clock.now() + timedelta(minutes=30))
    r = await intake.client.post(f"{url}/messages", json={"body": "The Visa one"}, headers=channel_headers())
    assert (r.status_code, r.json()["status"], r.json()["waiting_since"]) == (201, "in_progress", None)

    r = await intake.client.post(f"{url}/updates", json={"body": "Refund requested"}, headers=OWNER)
    assert (r.status_code, at(r.json()["last_update_at"])) == (201, clock.now())
    r = await intake.client.patch(url, json={"urgency": "urgent"}, headers={**OWNER, "If-Match": '"1"'})
    assert r.json()["urgency"] == "urgent"

    r = await intake.client.post(f"{url}/resolve", json={"resolution": "Refunded"}, headers=OWNER)
    resolved = r.json()
    assert resolved["status"] == "resolved"
    assert {k: at(v) for k, v in resolved["resolution_times"].items()} == {
        "expected_by_customer": None,
        "committed": committed_at,
        "committed_at": at(ticket["created_at"]),
        "actual": clock.now(),
    }
    link = resolved["customer_link"]["url"]
    assert link.startswith("http://127.0.0.1:8001/v1/customer-links/")

    r = await intake.client.post(f"{url}/follow-up", json={"body": "Customer happy", "satisfied": True}, headers=OWNER)
    assert at(r.json()["followed_up_at"]) == clock.now()

    path = link.removeprefix("http://127.0.0.1:8001")
    r = await intake.client.post(f"{path}/confirm")
    assert (r.status_code, r.json()["status"], r.json()["can_reopen"]) == (200, "closed", True)
    final = (await intake.client.get(url, headers=OWNER)).json()
    assert final["status"] == "closed" and final["customer_link"] is None

    events = ticket_events(
        await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=14), ticket["id"]
    )
    kinds = [e["type"].removesuffix(".v1") for e in events]
    assert [k for k in kinds if k != "ticket.status_changed"] == [
        "ticket.created",
        "ticket.plan_committed",
        "ticket.message_received",
        "ticket.updated",
        "ticket.priority_changed",
        "ticket.resolved",
        "ticket.followed_up",
        "ticket.closed",
    ]
    moves = [(e["data"]["from_status"], e["data"]["to_status"]) for e in events if "status_changed" in e["type"]]
    assert moves == [
        ("pending_assignment", "in_progress"),
        ("in_progress", "waiting_on_customer"),
        ("waiting_on_customer", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    changed = next(e for e in events if e["type"] == "ticket.priority_changed.v1")["data"]
    assert (changed["urgency"], changed["previous_urgency"]) == ("urgent", "normal")
    text = str(events)
    assert "Visa" not in text and "Refund via card" not in text  # texts stay in intake


async def test_an_illegal_transition_is_a_409_naming_the_current_status(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    r = await intake.client.post(f"{url}/follow-up", json={"body": "too early"}, headers=OWNER)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ticket_in_progress")
    assert r.json()["error"]["details"] == {"status": "in_progress", "action": "follow_up"}
    r = await intake.client.post(
        f"{url}/plan",
        json={"summary": "x", "committed_resolution_at": (clock.now() - timedelta(minutes=1)).isoformat()},
        headers=OWNER,
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "committed_time_in_past")
    await intake.client.post(f"{url}/resolve", json={"resolution": "done"}, headers=OWNER)
    for path, body in (("waiting", {"body": "?"}), ("updates", {"body": "?"}), ("resolve", {"resolution": "x"})):
        r = await intake.client.post(f"{url}/{path}", json=body, headers=OWNER)
        assert (r.status_code, r.json()["error"]["details"]["status"]) == (409, "resolved"), path
    r = await intake.client.patch(url, json={"category": "account"}, headers={**OWNER, "If-Match": '"1"'})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ticket_resolved")
    r = await intake.client.patch(url, json={}, headers={**OWNER, "If-Match": '"1"'})
    assert r.status_code == 422


async def test_a_change_of_urgency_or_category_names_the_version_it_read(
    intake: RunningService, platform: PlatformSettings
) -> None:
    """Two supervisors editing the same ticket: the second, who read it before the first's
    change, is refused (412) instead of silently undoing it; without `If-Match` nothing changes."""
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    read = await intake.client.get(url, headers=OWNER)
    assert (read.headers["ETag"], read.json()["version"]) == ('"1"', 1)
    r = await intake.client.patch(url, json={"urgency": "urgent"}, headers=OWNER)
    assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
    r = await intake.client.patch(url, json={"urgency": "urgent"}, headers={**OWNER, "If-Match": read.headers["ETag"]})
    assert (r.status_code, r.headers["ETag"], r.json()["version"]) == (200, '"2"', 2)
    stale = await intake.client.patch(url, json={"urgency": "critical"}, headers={**OWNER, "If-Match": '"1"'})
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "ticket_changed")
    assert stale.json()["error"]["details"]["current_etag"] == '"2"'
    same = await intake.client.patch(url, json={"urgency": "urgent"}, headers={**OWNER, "If-Match": '"2"'})
    assert (same.status_code, same.json()["version"]) == (200, 2)  # no change, no new version
    shown = await intake.client.get(url, headers=OWNER)
    assert (shown.json()["urgency"], shown.headers["ETag"]) == ("urgent", '"2"')


async def test_a_customer_message_reopens_a_resolved_ticket_only_within_the_window(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    await intake.client.post(f"{url}/resolve", json={"resolution": "done"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=6))
    r = await intake.client.post(f"{url}/messages", json={"body": "Still broken"}, headers=channel_headers())
    assert (r.status_code, r.json()["status"], r.json()["reopen_count"]) == (201, "reopened", 1)
    # The owner answering takes it back in progress; resolving again starts a new window.
    r = await intake.client.post(f"{url}/replies", json={"body": "On it"}, headers=OWNER)
    assert r.json()["status"] == "in_progress"
    await intake.client.post(f"{url}/resolve", json={"resolution": "done now"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=7, seconds=1))
    r = await intake.client.post(f"{url}/messages", json={"body": "Again?"}, headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (409, "reopen_window_passed")
    events = ticket_events(
        await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=12), ticket["id"]
    )
    [reopened] = [e["data"] for e in events if e["type"] == "ticket.reopened.v1"]
    assert (reopened["previous_status"], reopened["reason"]) == ("resolved", "customer_message")


async def test_internal_notes_are_shown_to_staff_and_never_to_the_channel(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    colleague = agent_headers("agent-colleague", department="after_sales")
    r = await intake.client.post(f"{url}/notes", json={"body": "Customer is a reseller"}, headers=colleague)
    assert r.status_code == 201, r.text
    assert [e["body"] for e in r.json()["timeline"] if e["kind"] == "note"] == ["Customer is a reseller"]
    shown = (await intake.client.get(f"/v1/channel/tickets/{ticket['id']}", headers=channel_headers())).json()
    assert "note" not in [e["kind"] for e in shown["timeline"]]
    r = await intake.client.post(f"{url}/messages", json={"body": "any news?"}, headers=channel_headers())
    assert "note" not in [e["kind"] for e in r.json()["timeline"]]
    assert "reseller" not in r.text


async def test_staff_act_only_within_their_department_and_only_the_owner_or_a_supervisor_acts(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    outsider = agent_headers("agent-fin-1", department="finance")
    r = await intake.client.get(url, headers=outsider)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_your_department")
    r = await intake.client.post(f"{url}/notes", json={"body": "x"}, headers=outsider)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_your_department")
    colleague = agent_headers("agent-colleague", department="after_sales")
    assert (await intake.client.get(url, headers=colleague)).status_code == 200
    for path, body in (("replies", {"body": "hi"}), ("resolve", {"resolution": "x"})):
        r = await intake.client.post(f"{url}/{path}", json=body, headers=colleague)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "not_the_assignee"), path
        assert r.json()["error"]["details"]["assignee_id"] == "agent-test"
    supervisor = agent_headers("sup-as", Role.SUPERVISOR, department="after_sales")
    r = await intake.client.post(f"{url}/replies", json={"body": "Supervisor here"}, headers=supervisor)
    assert r.status_code == 201
    assert [e["actor"] for e in r.json()["timeline"] if e["kind"] == "reply"] == ["agent:sup-as"]
    r = await intake.client.post(f"{url}/resolve", json={"resolution": "done"}, headers=admin_headers())
    assert r.status_code == 200

    listed = (await intake.client.get("/v1/tickets", headers=colleague)).json()
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]
    assert (await intake.client.get("/v1/tickets", headers=outsider)).json()["total"] == 0
    r = await intake.client.get("/v1/tickets?department_id=after_sales", headers=outsider)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_your_department")


async def test_the_customer_link_confirms_or_reopens_and_stops_working_when_replaced_or_expired(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    first = (await intake.client.post(f"{url}/resolve", json={"resolution": "x"}, headers=OWNER)).json()
    link = first["customer_link"]["url"].removeprefix("http://127.0.0.1:8001")
    shown = (await intake.client.get(link)).json()
    assert (shown["number"], shown["can_confirm"], shown["can_reopen"]) == (ticket["number"], True, True)
    assert "subject" not in shown and "customer" not in shown

    r = await intake.client.post(f"{link}/reopen", json={"reason": "It still fails"})
    assert (r.status_code, r.json()["status"]) == (200, "reopened")
    clock.set(clock.now() + timedelta(minutes=1))
    second = (await intake.client.post(f"{url}/resolve", json={"resolution": "y"}, headers=OWNER)).json()
    r = await intake.client.post(f"{link}/confirm")
    assert (r.status_code, r.json()["error"]["code"]) == (410, "link_superseded")
    fresh = second["customer_link"]["url"].removeprefix("http://127.0.0.1:8001")
    assert fresh != link
    for _ in range(2):  # confirming again changes nothing
        r = await intake.client.post(f"{fresh}/confirm")
        assert (r.status_code, r.json()["status"], r.json()["can_confirm"]) == (200, "closed", False)

    r = await intake.client.get(link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "link_not_found")
    clock.set(clock.now() + timedelta(days=8))
    r = await intake.client.post(f"{fresh}/reopen", json={"reason": "late"})
    assert (r.status_code, r.json()["error"]["code"]) == (410, "link_expired")


async def test_the_channel_confirms_or_reopens_for_the_customer(
    intake: RunningService, platform: PlatformSettings
) -> None:
    one, two = await owned_ticket(intake, platform), await owned_ticket(intake, platform)
    for ticket in (one, two):
        await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "x"}, headers=OWNER)
    r = await intake.client.post(f"/v1/channel/tickets/{one['id']}/confirm", headers=channel_headers())
    assert (r.status_code, r.json()["status"]) == (200, "closed")
    r = await intake.client.post(f"/v1/channel/tickets/{one['id']}/confirm", headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ticket_closed")
    r = await intake.client.post(
        f"/v1/channel/tickets/{two['id']}/reopen", json={"reason": "no"}, headers=channel_headers()
    )
    assert (r.status_code, r.json()["status"], r.json()["reopen_count"]) == (200, "reopened", 1)


async def test_a_resolved_ticket_nobody_confirms_closes_by_itself_once(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    stale, recent = await owned_ticket(intake, platform), await owned_ticket(intake, platform)
    await intake.client.post(f"/v1/tickets/{stale['id']}/resolve", json={"resolution": "x"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=3))
    await intake.client.post(f"/v1/tickets/{recent['id']}/resolve", json={"resolution": "x"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=4, seconds=1))
    for expected in (1, 0):
        async with intake.runtime.unit_of_work() as uow:
            assert await scheduled.close_unconfirmed(uow) == expected
    shown = (await intake.client.get(f"/v1/tickets/{stale['id']}", headers=OWNER)).json()
    assert (shown["status"], at(shown["closed_at"])) == ("closed", clock.now())
    assert (await intake.client.get(f"/v1/tickets/{recent['id']}", headers=OWNER)).json()["status"] == "resolved"
    events = ticket_events(
        await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=12), stale["id"]
    )
    [closed] = [e["data"] for e in events if e["type"] == "ticket.closed.v1"]
    assert (closed["automatic"], closed["actor"]) == (True, "system")


async def test_a_message_retried_with_its_idempotency_key_is_added_once(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await owned_ticket(intake, platform)
    headers = channel_headers(**{"Idempotency-Key": "msg-1"})
    url = f"/v1/tickets/{ticket['id']}/messages"
    first = await intake.client.post(url, json={"body": "hello"}, headers=headers)
    again = await intake.client.post(url, json={"body": "hello"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    kinds = [e["kind"] for e in again.json()["timeline"]]
    assert kinds.count("message") == 1


async def test_the_same_problem_reported_again_is_added_to_the_open_ticket(
    intake: RunningService, platform: PlatformSettings
) -> None:
    body = create_ticket_body(subject="Invoice is wrong!")
    first = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    again = await intake.client.post(
        "/v1/tickets",
        json={**body, "subject": "wrong invoice", "description": "Still wrong", "channel": "phone"},
        headers=channel_headers(),
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert (again.json()["id"], again.json()["number"], again.json()["repeat_contact"]) == (
        first.json()["id"],
        first.json()["number"],
        True,
    )
    assert [e["body"] for e in again.json()["timeline"] if e["kind"] == "message"] == ["wrong invoice\n\nStill wrong"]
    other_category = await intake.client.post(
        "/v1/tickets", json={**body, "category": "account"}, headers=channel_headers()
    )
    forced = await intake.client.post("/v1/tickets", json={**body, "new_ticket": True}, headers=channel_headers())
    other_customer = await intake.client.post(
        "/v1/tickets", json=create_ticket_body(subject="Invoice is wrong!"), headers=channel_headers()
    )
    assert {other_category.status_code, forced.status_code, other_customer.status_code} == {201}
    assert len({first.json()["id"], other_category.json()["id"], forced.json()["id"]}) == 3
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=6)
    [repeat] = [e["data"] for e in events if e["type"] == "ticket.repeat_contact.v1"]
    assert (repeat["ticket_id"], repeat["via_channel"], repeat["reopened"]) == (first.json()["id"], "phone", False)
    assert sum(e["type"] == "ticket.created.v1" for e in events) == 4


async def test_a_repeat_within_the_window_reopens_the_resolved_ticket_and_after_it_opens_a_new_one(
    intake: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    body = create_ticket_body()
    ticket = await owned_ticket(intake, platform, **body)
    await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "x"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=2))
    r = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    assert (r.status_code, r.json()["id"], r.json()["status"]) == (200, ticket["id"], "reopened")
    await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "y"}, headers=OWNER)
    clock.set(clock.now() + timedelta(days=7, seconds=1))
    r = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    assert r.status_code == 201 and r.json()["id"] != ticket["id"]


async def test_a_retried_repeat_report_adds_its_message_once(intake: RunningService) -> None:
    body = create_ticket_body()
    first = (await intake.client.post("/v1/tickets", json=body, headers=channel_headers())).json()
    headers = channel_headers(**{"Idempotency-Key": "repeat-1"})
    replies = [await intake.client.post("/v1/tickets", json=body, headers=headers) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert {r.json()["id"] for r in replies} == {first["id"]}
    assert [r.headers.get("Idempotent-Replayed") for r in replies] == [None, "true", "true"]
    kinds = [e["kind"] for e in replies[-1].json()["timeline"]]
    assert kinds.count("message") == 1


async def test_a_queued_ticket_shows_its_department_and_a_reassignment_its_new_owner(
    intake: RunningService, platform: PlatformSettings
) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
    ticket = r.json()
    story = Story(
        created_at=datetime.fromisoformat(ticket["created_at"]),
        ticket_id=uuid.UUID(ticket["id"]),
        number=ticket["number"],
        customer_id=ticket["customer"]["id"],
    )
    now = datetime.now(UTC)
    await publish(platform, story.queued(now))
    supervisor = agent_headers("sup-as", Role.SUPERVISOR, department="after_sales")

    async def queued() -> dict[str, Any] | None:
        got = await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=supervisor)
        return got.json() if got.status_code == 200 else None

    shown = await eventually(queued)
    assert (shown["status"], shown["assignee"], shown["timeline"][-1]["kind"]) == ("pending_assignment", None, "queued")

    await publish(
        platform,
        story.assigned(now + timedelta(seconds=1), agent="agent-away"),
        story.reassigned(now + timedelta(seconds=2), agent="agent-test", previous="agent-away"),
    )

    async def moved() -> dict[str, Any] | None:
        got = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=supervisor)).json()
        return got if (got.get("assignee") or {}).get("agent_id") == "agent-test" else None

    shown = await eventually(moved)
    assert shown["status"] == "in_progress"
    assert [e["kind"] for e in shown["timeline"]][-2:] == ["assigned", "reassigned"]
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": "mine now"}, headers=OWNER)
    assert r.status_code == 201
    r = await intake.client.post(
        f"/v1/tickets/{ticket['id']}/replies", json={"body": "?"}, headers=agent_headers("agent-away")
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_the_assignee")
