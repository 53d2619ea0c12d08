"""Priority routing over the whole system: the five services as separate processes. With every
agent of a department at capacity, a normal and a high-value ticket wait; when the agent frees
capacity, the high-value ticket is assigned first, and the `ticket.assigned` event says why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import (
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    read_events,
    running_stack,
)
from ticketloop_embedded.stack import Stack
from ticketloop_shared.events import Topics

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-stacks-2")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack("ticketloop-e2e-routing-") as running:
        yield running


def url(stack: Stack, service: str) -> str:
    return stack.services[service].url


async def post_ticket(http: httpx.AsyncClient, stack: Stack, key: str, **customer: Any) -> str:
    body = create_ticket_body(category="billing", subject=key)
    body["customer"] = {**body["customer"], **customer}
    r = await http.post(
        f"{url(stack, 'intake')}/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": key})
    )
    assert r.status_code == 201, r.text
    ticket_id: str = r.json()["id"]
    return ticket_id


async def routing_state(http: httpx.AsyncClient, stack: Stack, ticket_id: str) -> dict[str, Any] | None:
    r = await http.get(f"{url(stack, 'routing')}/v1/assignments/{ticket_id}", headers=admin_headers())
    return r.json() if r.status_code == 200 else None


async def test_freed_capacity_goes_to_the_high_value_ticket_first_with_its_reason(stack: Stack) -> None:
    routing = url(stack, "routing")
    async with httpx.AsyncClient(timeout=30) as http:
        # finance (one agent) may hold one open ticket per agent
        got = await http.get(f"{routing}/v1/organisation", headers=agent_headers())
        org = got.json()
        for department in org["departments"]:
            if department["id"] == "finance":
                department["default_capacity"] = 1
        r = await http.put(
            f"{routing}/v1/organisation", json=org, headers={**admin_headers(), "If-Match": got.headers["ETag"]}
        )
        assert r.status_code == 200, r.text

        # the finance agent takes a first ticket and is at capacity
        busy = await post_ticket(http, stack, "prio-busy")

        async def owned() -> dict[str, Any] | None:
            state = await routing_state(http, stack, busy)
            return state if state and state["state"] == "assigned" else None

        assert (await eventually(owned))["agent_id"] == "agent-fin-1"

        # a normal ticket, then a high-value one: both wait
        normal = await post_ticket(http, stack, "prio-normal")
        vip = await post_ticket(http, stack, "prio-vip", annual_spend=80_000)

        async def both_waiting() -> bool:
            states = [await routing_state(http, stack, t) for t in (normal, vip)]
            return all(s is not None and s["state"] == "queued" for s in states)

        await eventually(both_waiting)
        queues = (await http.get(f"{routing}/v1/queues?department_id=finance", headers=admin_headers())).json()
        assert [t["ticket_id"] for t in queues[0]["tickets"]] == [vip, normal]

        # the agent resolves its ticket: the high-value ticket gets the freed capacity
        r = await http.post(
            f"{url(stack, 'intake')}/v1/tickets/{busy}/resolve", json={"resolution": "Done"}, headers=admin_headers()
        )
        assert r.status_code == 200, r.text

        async def vip_assigned() -> dict[str, Any] | None:
            state = await routing_state(http, stack, vip)
            return state if state and state["state"] == "assigned" else None

        assert (await eventually(vip_assigned))["agent_id"] == "agent-fin-1"
        assert (await routing_state(http, stack, normal) or {})["state"] == "queued"

        # intake shows the owner
        async def shown() -> Any:
            r = await http.get(
                f"{url(stack, 'intake')}/v1/tickets/{vip}", headers=agent_headers("agent-fin-1", department="finance")
            )
            return r.json() if r.status_code == 200 and r.json()["assignee"] else None

        assert (await eventually(shown))["assignee"]["agent_id"] == "agent-fin-1"

        # and the event says why: strategy, rule, score, candidates, time waited
        platform = stack.platform()
        topic = Topics(platform.topic_prefix).for_family("ticket")

        async def assigned_event() -> dict[str, Any] | None:
            found = [
                e
                for e in await read_events(platform, topic, count=100_000, timeout=1)
                if e["type"] == "ticket.assigned.v1" and e["subject"] == vip
            ]
            return found[0] if found else None

        event = await eventually(assigned_event, timeout=30)
        reason = event["data"]["reason"]
        assert reason["strategy"] == "least_loaded"
        assert reason["rule"].startswith("least_loaded")
        assert reason["score"] >= 60.0  # high-value: 60 points, plus the minutes it waited
        assert reason["waited_seconds"] > 0
        [candidate] = reason["candidates"]
        assert candidate == {
            "agent_id": "agent-fin-1",
            "presence": "available",
            "open_tickets": 0,
            "capacity": 1,
            "skills": [],
            "eligible": True,
            "why_not": None,
        }
        queued = [
            e
            for e in await read_events(platform, topic, count=100_000, timeout=1)
            if e["type"] == "ticket.queued.v1" and e["subject"] in (vip, normal)
        ]
        assert {e["subject"] for e in queued} == {vip, normal}
