"""Priority routing over the whole system: the five services as separate processes. With every
agent of a department at capacity, a normal and a high-value ticket wait; when the agent frees
capacity, the high-value ticket is assigned first, and the `ticket.assigned` event says why. A
customer is high-value because retrospective says so (`customer.segment_changed`, here from a
relationship of more than 12 months): routing has no segment rule of its own."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
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
from ticketloop_routing.settings import DEFAULT_ORGANISATION
from ticketloop_shared.db import asyncpg_dsn
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


async def post_ticket(
    http: httpx.AsyncClient, stack: Stack, key: str, *, category: str = "billing", **customer: Any
) -> str:
    body = create_ticket_body(category=category, subject=key)
    body["customer"] = {**body["customer"], **customer}
    r = await http.post(
        f"{url(stack, 'intake')}/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": key})
    )
    assert r.status_code == 201, r.text
    ticket_id: str = r.json()["id"]
    return ticket_id


async def fetch(stack: Stack, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(stack.pg.url(f"ticketloop_{service}")))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def known_as_high_value(http: httpx.AsyncClient, stack: Stack, customer: str) -> None:
    """The customer, a customer for more than 12 months, writes about their account (after-sales):
    retrospective classifies them high-value and announces it; wait until routing holds it."""
    first = await post_ticket(
        http, stack, f"{customer}-first", category="account", id=customer, customer_since="2023-01-01"
    )

    async def held() -> bool:
        rows = await fetch(
            stack,
            "routing",
            "SELECT s.segment FROM customer_segments s JOIN assignments a ON a.customer_id = s.customer_id "
            "WHERE a.ticket_id = $1",
            uuid.UUID(first),
        )
        return bool(rows) and rows[0]["segment"] == "high_value"

    await eventually(held, timeout=30)


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
        await known_as_high_value(http, stack, "cust-prio-vip")
        normal = await post_ticket(http, stack, "prio-normal")
        vip = await post_ticket(http, stack, "prio-vip", id="cust-prio-vip")

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


async def test_on_the_shipped_organisation_a_high_value_ticket_is_served_before_an_earlier_normal_one(
    stack: Stack,
) -> None:
    """Nothing configured for the test: the organisation routing ships with gives each agent a
    capacity, so under load tickets wait, and the first free place goes to the high-value
    customer's ticket though a normal one was reported before it (SPEC §2: VIPs served first)."""
    shipped = tomllib.loads(DEFAULT_ORGANISATION.read_text())
    [department] = [d for d in shipped["departments"] if d["id"] == "supply_chain"]
    capacity = department["default_capacity"]
    [agent] = [a["id"] for a in shipped["agents"] if a["department"] == "supply_chain"]
    routing = url(stack, "routing")
    async with httpx.AsyncClient(timeout=30) as http:
        org = (await http.get(f"{routing}/v1/organisation", headers=agent_headers())).json()
        assert all(d["supervisor"] for d in org["departments"])  # an SLA breach reaches someone
        [running] = [d for d in org["departments"] if d["id"] == "supply_chain"]
        assert (running["default_capacity"], running["supervisor"]) == (capacity, department["supervisor"])

        await known_as_high_value(http, stack, "cust-shipped-vip")
        # the supply-chain desk fills up with normal customers' reports
        busy = [
            await post_ticket(http, stack, f"shipped-busy-{i}", category="logistics_delay") for i in range(capacity)
        ]

        async def all_owned() -> bool:
            states = [await routing_state(http, stack, t) for t in busy]
            return all(s is not None and s["state"] == "assigned" and s["agent_id"] == agent for s in states)

        await eventually(all_owned, timeout=30)

        # a normal customer reports first, the high-value customer after: both wait
        normal = await post_ticket(http, stack, "shipped-normal", category="logistics_delay")

        async def waiting(ticket_id: str) -> dict[str, Any] | None:
            state = await routing_state(http, stack, ticket_id)
            return state if state and state["state"] == "queued" else None

        assert (await eventually(lambda: waiting(normal)))["segment"] != "high_value"
        vip = await post_ticket(http, stack, "shipped-vip", category="logistics_delay", id="cust-shipped-vip")
        assert (await eventually(lambda: waiting(vip)))["segment"] == "high_value"

        # the agent resolves one ticket: its place goes to the later, high-value ticket
        r = await http.post(
            f"{url(stack, 'intake')}/v1/tickets/{busy[0]}/resolve", json={"resolution": "Done"}, headers=admin_headers()
        )
        assert r.status_code == 200, r.text

        async def vip_assigned() -> dict[str, Any] | None:
            state = await routing_state(http, stack, vip)
            return state if state and state["state"] == "assigned" else None

        assert (await eventually(vip_assigned))["agent_id"] == agent
        assert (await routing_state(http, stack, normal) or {})["state"] == "queued"
