"""What staff do to a ticket in routing, on a real database, broker and HTTP: an agent takes a
waiting ticket, a supervisor assigns one to a named agent (an away or full one only by override,
with a note) or transfers it to another department, where routing places it; each announced with
its reason, audited, idempotent, refused with a precise code when the caller may not; and every
staff read limited to the caller's department."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.builders import T0, Story
from tests.support import RunningService, admin_headers, agent_headers, eventually, publish, read_events, serve
from ticketloop_routing.app import create_app
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings

# desk routes by skills: a ticket asking for a skill nobody has waits in its queue, however free
# its agents are, which is what an agent takes from.
ORG: dict[str, Any] = {
    "fallback_department": "desk",
    "departments": [
        {"id": "desk", "name": "Front desk", "strategy": "skills", "supervisor": "sup-desk", "default_capacity": 1},
        {"id": "tech", "name": "Technical", "supervisor": "sup-tech"},
    ],
    "agents": [
        {"id": "desk-1", "name": "Desk One", "department": "desk"},
        {"id": "desk-2", "name": "Desk Two", "department": "desk"},
        {"id": "tech-1", "name": "Tech One", "department": "tech"},
    ],
    "categories": {"billing": "desk", "product_quality": "tech"},
}

DESK_SUPERVISOR = agent_headers("sup-desk", Role.SUPERVISOR, department="desk")
TECH_SUPERVISOR = agent_headers("sup-tech", Role.SUPERVISOR, department="tech")


def desk(agent: str = "desk-1") -> dict[str, str]:
    return agent_headers(agent, department="desk")


def tech(agent: str = "tech-1") -> dict[str, str]:
    return agent_headers(agent, department="tech")


@pytest.fixture
async def routing(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = RoutingSettings(database_url=await new_database("routing"), platform=platform, away_sweep_seconds=3600)
    async with serve(create_app(settings)) as running:
        etag = (await running.client.get("/v1/organisation", headers=admin_headers())).headers["ETag"]
        r = await running.client.put("/v1/organisation", json=ORG, headers={**admin_headers(), "If-Match": etag})
        assert r.status_code == 200, r.text
        yield running


async def state(routing: RunningService, story: Story) -> dict[str, Any] | None:
    r = await routing.client.get(f"/v1/assignments/{story.ticket_id}", headers=admin_headers())
    return r.json() if r.status_code == 200 else None


async def routed(routing: RunningService, platform: PlatformSettings, story: Story, **extra: Any) -> dict[str, Any]:
    """Publish the story's `ticket.created`; the assignment once routing has decided."""
    await publish(platform, story.created(**extra))

    async def decided() -> dict[str, Any] | None:
        got = await state(routing, story)
        return got if got is not None and got["state"] in ("assigned", "queued") else None

    result: dict[str, Any] = await eventually(decided)
    return result


async def waiting(routing: RunningService, platform: PlatformSettings, **story: Any) -> Story:
    """A ticket waiting in the front desk's queue (it asks for a skill nobody there has)."""
    ticket = Story(**story)
    got = await routed(routing, platform, ticket, required_skills=["language:es"])
    assert got["state"] == "queued", got
    return ticket


async def act(
    routing: RunningService, story: Story, what: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Any:
    return await routing.client.post(f"/v1/tickets/{story.ticket_id}/{what}", json=body, headers=headers)


def refused(r: Any) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


async def announced(platform: PlatformSettings, story: Story, kind: str, *, count: int = 1) -> list[dict[str, Any]]:
    """The `ticket.<kind>` events about the story's ticket on the topic (once at least `count`)."""
    topic = Topics(platform.topic_prefix).for_family("ticket")

    async def probe() -> list[dict[str, Any]] | None:
        found = [
            e
            for e in await read_events(platform, topic, count=100_000, timeout=0.5)
            if e["type"] == f"ticket.{kind}.v1" and e["subject"] == str(story.ticket_id)
        ]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await eventually(probe)
    return result


async def routing_events(platform: PlatformSettings, story: Story) -> list[str]:
    """Every event routing announced about the story's ticket, by type."""
    topic = Topics(platform.topic_prefix).for_family("ticket")
    return [
        e["type"]
        for e in await read_events(platform, topic, count=100_000, timeout=0.5)
        if e["subject"] == str(story.ticket_id) and e["source"] == "routing"
    ]


async def settled(routing: RunningService, platform: PlatformSettings) -> None:
    """Everything routing staged before now is on the topic: a marker ticket's announcement,
    written to the outbox after it, has arrived."""
    marker = Story(category="product_quality")
    await routed(routing, platform, marker)
    await announced(platform, marker, "assigned")


async def audited(routing: RunningService, action: str, story: Story) -> list[dict[str, Any]]:
    r = await routing.client.get(
        "/v1/audit", params={"action": action, "subject": f"ticket:{story.ticket_id}"}, headers=admin_headers()
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def load(routing: RunningService) -> dict[str, int]:
    agents = (await routing.client.get("/v1/agents", headers=admin_headers())).json()
    return {a["id"]: a["open_tickets"] for a in agents}


async def set_presence(routing: RunningService, agent: str, presence: str) -> None:
    r = await routing.client.put(f"/v1/agents/{agent}/presence", json={"presence": presence}, headers=admin_headers())
    assert r.status_code == 200, r.text


# --- take --------------------------------------------------------------------------------------


async def test_an_agent_takes_a_waiting_ticket_of_its_department(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    r = await act(routing, ticket, "take", desk("desk-1"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["state"], got["department_id"], got["agent_id"]) == ("assigned", "desk", "desk-1")
    assert (got["reason"]["rule"], got["reason"]["actor"]) == ("taken", "agent:desk-1")
    assert [h["decision"] for h in got["history"]] == ["queued"]
    assert (await load(routing))["desk-1"] == 1

    [assigned] = await announced(platform, ticket, "assigned")
    assert assigned["data"]["agent_id"] == "desk-1" and assigned["data"]["agent_name"] == "Desk One"
    assert (assigned["data"]["reason"]["rule"], assigned["data"]["reason"]["actor"]) == ("taken", "agent:desk-1")
    [entry] = await audited(routing, "ticket.taken", ticket)
    assert (entry["actor"], entry["role"], entry["details"]["agent_id"]) == ("desk-1", "agent", "desk-1")

    # taking it again changes nothing and announces nothing; another agent finds it taken
    again = await act(routing, ticket, "take", desk("desk-1"))
    assert again.status_code == 200 and again.json()["reason"] == got["reason"]
    assert refused(await act(routing, ticket, "take", desk("desk-2"))) == (409, "ticket_not_waiting")
    await settled(routing, platform)
    assert await routing_events(platform, ticket) == ["ticket.queued.v1", "ticket.assigned.v1"]
    assert len(await audited(routing, "ticket.taken", ticket)) == 1
    assert (await load(routing))["desk-1"] == 1


async def test_a_supervisor_who_is_not_an_agent_takes_one_whatever_their_load(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    r = await act(routing, ticket, "take", DESK_SUPERVISOR)
    assert r.status_code == 200, r.text
    assert (r.json()["agent_id"], r.json()["reason"]["actor"]) == ("sup-desk", "supervisor:sup-desk")
    [assigned] = await announced(platform, ticket, "assigned")
    assert assigned["data"]["agent_id"] == "sup-desk"


async def test_who_may_not_take_a_ticket_and_why(routing: RunningService, platform: PlatformSettings) -> None:
    ticket = await waiting(routing, platform)
    assert refused(await act(routing, ticket, "take", tech())) == (403, "not_your_department")
    assert refused(await act(routing, ticket, "take", admin_headers())) == (403, "agent_or_supervisor_required")
    stranger = agent_headers("someone-else", department="desk")  # a desk token, but no desk agent
    assert refused(await act(routing, ticket, "take", stranger)) == (409, "agent_not_in_department")
    unknown = Story()
    assert refused(await act(routing, unknown, "take", desk())) == (404, "ticket_not_found")

    await set_presence(routing, "desk-2", "away")
    assert refused(await act(routing, ticket, "take", desk("desk-2"))) == (409, "agent_away")
    assert (await act(routing, ticket, "take", desk("desk-1"))).status_code == 200
    second = await waiting(routing, platform)
    full = await act(routing, second, "take", desk("desk-1"))  # the desk's capacity is one
    assert refused(full) == (409, "agent_at_capacity")
    assert full.json()["error"]["details"] == {
        "agent_id": "desk-1",
        "department_id": "desk",
        "presence": "available",
        "open_tickets": 1,
        "capacity": 1,
    }

    await publish(platform, second.resolved(T0 + timedelta(minutes=5)))
    await eventually(lambda: _in_state(routing, second, "closed"))
    assert refused(await act(routing, second, "take", desk("desk-2"))) == (409, "ticket_closed")


async def _in_state(routing: RunningService, story: Story, wanted: str) -> bool:
    return (await state(routing, story) or {}).get("state") == wanted


# --- assign ------------------------------------------------------------------------------------


async def test_a_supervisor_assigns_a_ticket_and_reassigns_it(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    assert refused(await act(routing, ticket, "assign", desk(), {"agent_id": "desk-2"})) == (403, "supervisor_required")
    assert refused(await act(routing, ticket, "assign", TECH_SUPERVISOR, {"agent_id": "desk-2"})) == (
        403,
        "not_your_department",
    )
    assert refused(await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "tech-1"})) == (
        409,
        "agent_not_in_department",
    )

    r = await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "desk-2", "note": "knows this customer"})
    assert r.status_code == 200, r.text
    reason = r.json()["reason"]
    assert (r.json()["agent_id"], reason["rule"], reason["actor"], reason["note"]) == (
        "desk-2",
        "assigned_by",
        "supervisor:sup-desk",
        "knows this customer",
    )
    [assigned] = await announced(platform, ticket, "assigned")
    assert (assigned["data"]["agent_id"], assigned["data"]["reason"]["rule"]) == ("desk-2", "assigned_by")

    # to another agent: a reassignment, the first owner's load released, the new one's counted
    r = await act(routing, ticket, "assign", admin_headers(), {"agent_id": "desk-1"})
    assert r.status_code == 200, r.text
    assert (r.json()["agent_id"], r.json()["reason"]["actor"]) == ("desk-1", "admin:admin-test")
    [moved] = await announced(platform, ticket, "reassigned")
    assert (moved["data"]["previous_agent_id"], moved["data"]["agent_id"]) == ("desk-2", "desk-1")
    assert moved["data"]["reason"]["rule"] == "assigned_by"
    assert {k: v for k, v in (await load(routing)).items() if k.startswith("desk")} == {"desk-1": 1, "desk-2": 0}

    # the same assignment again changes nothing
    assert (await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "desk-1"})).status_code == 200
    await settled(routing, platform)
    assert await routing_events(platform, ticket) == ["ticket.queued.v1", "ticket.assigned.v1", "ticket.reassigned.v1"]
    entries = await audited(routing, "ticket.assigned", ticket)
    assert [(e["actor"], e["details"]["agent_id"], e["details"].get("previous_agent_id")) for e in entries] == [
        ("admin-test", "desk-1", "desk-2"),
        ("sup-desk", "desk-2", None),
    ]


async def test_an_away_or_full_agent_is_assigned_only_by_override_with_a_note(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    await set_presence(routing, "desk-2", "away")
    away = await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "desk-2"})
    assert refused(away) == (409, "agent_away") and away.json()["error"]["details"]["presence"] == "away"
    silent = await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "desk-2", "override": True})
    assert refused(silent) == (422, "note_required")
    blank = {"agent_id": "desk-2", "override": True, "note": "   "}
    assert refused(await act(routing, ticket, "assign", DESK_SUPERVISOR, blank)) == (422, "note_required")

    body = {"agent_id": "desk-2", "override": True, "note": "back in five minutes"}
    r = await act(routing, ticket, "assign", DESK_SUPERVISOR, body)
    assert r.status_code == 200, r.text
    [holder] = r.json()["reason"]["candidates"]
    assert (holder["agent_id"], holder["eligible"], holder["why_not"]) == ("desk-2", False, "away")
    assert r.json()["reason"]["note"] == "back in five minutes"

    # desk-1 at its capacity of one
    first = await waiting(routing, platform)
    assert (await act(routing, first, "take", desk("desk-1"))).status_code == 200
    second = await waiting(routing, platform)
    full = await act(routing, second, "assign", DESK_SUPERVISOR, {"agent_id": "desk-1"})
    assert refused(full) == (409, "agent_at_capacity")
    forced = {"agent_id": "desk-1", "override": True, "note": "urgent, only desk-1 knows the system"}
    assert (await act(routing, second, "assign", DESK_SUPERVISOR, forced)).status_code == 200
    assert {k: v for k, v in (await load(routing)).items() if k.startswith("desk")} == {"desk-1": 2, "desk-2": 1}
    [entry] = await audited(routing, "ticket.assigned", second)
    assert (entry["details"]["override"], entry["details"]["note"]) == (True, "urgent, only desk-1 knows the system")


# --- transfer ----------------------------------------------------------------------------------


async def test_a_transferred_ticket_is_routed_in_the_other_department(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    assert (await act(routing, ticket, "take", desk("desk-1"))).status_code == 200
    assert refused(await act(routing, ticket, "transfer", tech(), {"department_id": "tech", "note": "x"})) == (
        403,
        "supervisor_required",
    )
    assert refused(await act(routing, ticket, "transfer", TECH_SUPERVISOR, {"department_id": "tech", "note": "x"})) == (
        403,
        "not_your_department",
    )
    nowhere = {"department_id": "nowhere", "note": "x"}
    assert refused(await act(routing, ticket, "transfer", DESK_SUPERVISOR, nowhere)) == (409, "unknown_department")
    blank = {"department_id": "tech", "note": " "}
    assert refused(await act(routing, ticket, "transfer", DESK_SUPERVISOR, blank)) == (422, "note_required")
    # the other department cannot read it yet
    assert refused(await routing.client.get(f"/v1/assignments/{ticket.ticket_id}", headers=tech())) == (
        403,
        "not_your_department",
    )

    body = {"department_id": "tech", "note": "a product fault, not a billing question"}
    r = await act(routing, ticket, "transfer", DESK_SUPERVISOR, body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["state"], got["department_id"], got["agent_id"]) == ("assigned", "tech", "tech-1")
    assert (got["reason"]["rule"], got["reason"]["actor"], got["reason"]["note"]) == (
        "transferred",
        "supervisor:sup-desk",
        "a product fault, not a billing question",
    )
    [moved] = await announced(platform, ticket, "reassigned")
    data = moved["data"]
    assert (data["department_id"], data["agent_id"], data["previous_agent_id"]) == ("tech", "tech-1", "desk-1")
    assert (data["reason"]["rule"], data["reason"]["note"]) == ("transferred", body["note"])
    assert {c["agent_id"] for c in data["reason"]["candidates"]} == {"tech-1"}
    assert (await load(routing))["desk-1"] == 0 and (await load(routing))["tech-1"] == 1

    # the receiving department's agent sees it now, the sending department's no longer
    seen = await routing.client.get(f"/v1/assignments/{ticket.ticket_id}", headers=tech())
    assert seen.status_code == 200 and seen.json()["agent_id"] == "tech-1"
    assert refused(await routing.client.get(f"/v1/assignments/{ticket.ticket_id}", headers=desk())) == (
        403,
        "not_your_department",
    )
    # once there, only tech may move it; the same transfer again (by an admin) changes nothing
    again = await act(routing, ticket, "transfer", DESK_SUPERVISOR, body)
    assert refused(again) == (403, "not_your_department")
    assert (await act(routing, ticket, "transfer", admin_headers(), body)).status_code == 200
    await settled(routing, platform)
    types = await routing_events(platform, ticket)
    assert types == ["ticket.queued.v1", "ticket.assigned.v1", "ticket.reassigned.v1"]
    [entry] = await audited(routing, "ticket.transferred", ticket)
    assert entry["details"] == {
        "from_department_id": "desk",
        "department_id": "tech",
        "previous_agent_id": "desk-1",
        "agent_id": "tech-1",
        "note": body["note"],
    }


async def test_a_ticket_transferred_where_nobody_is_free_waits_in_that_queue(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    await set_presence(routing, "tech-1", "away")
    body = {"department_id": "tech", "note": "hardware"}
    r = await act(routing, ticket, "transfer", DESK_SUPERVISOR, body)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["department_id"], r.json()["agent_id"]) == ("queued", "tech", None)
    queued = await announced(platform, ticket, "queued", count=2)
    data = queued[-1]["data"]
    assert (data["department_id"], data["reason"]["rule"], data["reason"]["actor"]) == (
        "tech",
        "transferred",
        "supervisor:sup-desk",
    )
    assert {c["why_not"] for c in data["reason"]["candidates"]} == {"away"}
    [tech_queue] = (await routing.client.get("/v1/queues", headers=tech())).json()
    assert tech_queue["department_id"] == "tech"
    assert [t["ticket_id"] for t in tech_queue["tickets"]] == [str(ticket.ticket_id)]

    # tech's agent back: the transferred ticket is given out there as any waiting ticket
    await set_presence(routing, "tech-1", "available")
    await eventually(lambda: _in_state(routing, ticket, "assigned"))
    assert (await state(routing, ticket) or {})["agent_id"] == "tech-1"


async def test_a_closed_ticket_is_not_transferred_nor_assigned(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    await publish(platform, ticket.resolved(T0 + timedelta(minutes=5)))
    await eventually(lambda: _in_state(routing, ticket, "closed"))
    transfer = await act(routing, ticket, "transfer", DESK_SUPERVISOR, {"department_id": "tech", "note": "x"})
    assert refused(transfer) == (409, "ticket_closed")
    assert refused(await act(routing, ticket, "assign", DESK_SUPERVISOR, {"agent_id": "desk-1"})) == (
        409,
        "ticket_closed",
    )


# --- who am I, and reads scoped to the department -----------------------------------------------


async def test_me_says_who_the_token_is_and_its_agent_record(routing: RunningService) -> None:
    me = (await routing.client.get("/v1/me", headers=desk("desk-2"))).json()
    assert {k: me[k] for k in ("sub", "role", "department_id", "department_name")} == {
        "sub": "desk-2",
        "role": "agent",
        "department_id": "desk",
        "department_name": "Front desk",
    }
    assert (me["agent"]["id"], me["agent"]["presence"], me["agent"]["open_tickets"], me["agent"]["capacity"]) == (
        "desk-2",
        "available",
        0,
        1,
    )
    supervisor = (await routing.client.get("/v1/me", headers=DESK_SUPERVISOR)).json()
    assert (supervisor["role"], supervisor["agent"]) == ("supervisor", None)
    admin = (await routing.client.get("/v1/me", headers=admin_headers())).json()
    assert (admin["role"], admin["department_id"], admin["agent"]) == ("admin", None, None)
    assert (await routing.client.get("/v1/me")).status_code == 401
    notifier = await routing.client.get("/v1/me", headers=agent_headers("mailer", Role.NOTIFIER))
    assert refused(notifier) == (403, "staff_required")


async def test_staff_reads_show_the_callers_department_only(
    routing: RunningService, platform: PlatformSettings
) -> None:
    ticket = await waiting(routing, platform)
    r = await routing.client.get(f"/v1/assignments/{ticket.ticket_id}", headers=tech())
    assert refused(r) == (403, "not_your_department")
    assert r.json()["error"]["details"] == {"department_id": "desk"}
    assert (await routing.client.get(f"/v1/assignments/{ticket.ticket_id}", headers=desk())).status_code == 200

    queues = (await routing.client.get("/v1/queues", headers=tech())).json()
    assert [q["department_id"] for q in queues] == ["tech"] and queues[0]["waiting"] == 0
    asked = await routing.client.get("/v1/queues?department_id=desk", headers=tech())
    assert refused(asked) == (403, "not_your_department")
    every = (await routing.client.get("/v1/queues", headers=admin_headers())).json()
    assert [q["department_id"] for q in every] == ["desk", "tech"]

    agents = (await routing.client.get("/v1/agents", headers=TECH_SUPERVISOR)).json()
    assert [a["id"] for a in agents] == ["tech-1"]
    assert refused(await routing.client.get("/v1/agents?department_id=desk", headers=tech())) == (
        403,
        "not_your_department",
    )
    assert len((await routing.client.get("/v1/agents", headers=admin_headers())).json()) == 3

    for customer, agent in (("cust-a", "desk-1"), ("cust-b", "tech-1")):
        url = f"/v1/account-managers/{customer}"
        first = {**admin_headers(), "If-None-Match": "*"}
        assert (await routing.client.put(url, json={"agent_id": agent}, headers=first)).status_code == 201
    mine = (await routing.client.get("/v1/account-managers", headers=tech())).json()
    assert (mine["total"], [m["customer_id"] for m in mine["items"]]) == (1, ["cust-b"])
    assert (await routing.client.get("/v1/account-managers", headers=admin_headers())).json()["total"] == 2
