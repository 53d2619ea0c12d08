"""The acknowledgement is a message (issue 20 item 3), over real HTTP, PostgreSQL and broker with
intake and sla in-process on one injected clock and a webhook receiver on 127.0.0.1: a subscribed
channel receives `ticket.acknowledged` and sla meets the 10-minute clock at the delivery's 2xx;
an unsubscribed channel's first read-back meets it; neither within 10 minutes is a breach; live
access is met by the owner's `/connected`, never by routing's assignment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.builders import Story
from tests.support import (
    Receiver,
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    serve,
    sla_cycles_when,
)
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> FrozenClock:
    # Near the real time: the deliveries carry it as their timestamp.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@dataclass
class Stack:
    intake: RunningService
    sla: RunningService


@pytest.fixture
async def stack(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[Stack]:
    intake_settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        webhooks_allow_private=True,
        webhooks_poll_seconds=0.05,
    )
    sla_settings = SlaSettings(database_url=await new_database("sla"), platform=platform, timer_max_idle_seconds=0.05)
    async with (
        serve(create_intake(intake_settings, clock=clock)) as intake,
        serve(create_sla(sla_settings, clock=clock)) as sla,
    ):
        yield Stack(intake, sla)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def report(stack: Stack, **overrides: Any) -> dict[str, Any]:
    r = await stack.intake.client.post("/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    # sla has the ticket and its clocks (from `ticket.created`) before the test moves time.
    await sla_cycles_when(stack.sla, ticket["id"], lambda c: "acknowledgement" in c)
    return ticket


async def subscribe_acknowledgements(stack: Stack, receiver: Receiver) -> dict[str, Any]:
    r = await stack.intake.client.post(
        "/v1/channel/webhooks",
        json={"url": receiver.url, "event_types": ["ticket.acknowledged"]},
        headers=channel_headers(),
    )
    assert r.status_code == 201, r.text
    endpoint: dict[str, Any] = r.json()
    return endpoint


async def deliveries(stack: Stack, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    r = await stack.intake.client.get(f"/v1/channel/webhooks/{endpoint['id']}/deliveries", headers=channel_headers())
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def read_back(stack: Stack, ticket: dict[str, Any]) -> dict[str, Any]:
    r = await stack.intake.client.get(f"/v1/channel/tickets/{ticket['id']}", headers=channel_headers())
    assert r.status_code == 200, r.text
    shown: dict[str, Any] = r.json()
    return shown


async def test_a_subscribed_channel_gets_the_acknowledgement_and_its_delivery_meets_the_clock(
    stack: Stack, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.script = [503]  # the first attempt fails: the clock waits for the delivery, not the report
    endpoint = await subscribe_acknowledgements(stack, receiver)
    t0 = clock.now()
    ticket = await report(stack, category="billing")
    # The 201 carries the deadlines that apply (computed with sla's rules, version 0).
    assert at(ticket["deadlines"]["acknowledgement_due"]) == t0 + 10 * MIN
    assert ticket["sla"]["version"] == 0

    await eventually(lambda: len(receiver.received) == 1)
    # A read-back while the delivery is pending does not count: this channel is told by webhook.
    await read_back(stack, ticket)
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "resolution" in c)
    assert clocks["acknowledgement"]["status"] == "running"

    async def retry_due() -> datetime | None:
        (delivery,) = await deliveries(stack, endpoint)
        return at(delivery["next_attempt_at"]) if delivery["attempts"] == 1 else None

    # The retry falls due after a backoff; the delivery's 2xx is at least three minutes in.
    delivered_at = max(await eventually(retry_due), t0 + 3 * MIN) + timedelta(seconds=1)
    clock.set(delivered_at)
    await eventually(lambda: [r.status for r in receiver.received] == [503, 200])

    message = receiver.received[-1].json
    assert message["type"] == "ticket.acknowledged"
    data = message["data"]
    assert (data["ticket_id"], data["number"], data["channel"]) == (ticket["id"], ticket["number"], "web")
    assert at(data["accepted_at"]) == t0
    assert data["owner"] is None and data["department"] is None  # routing has not chosen yet
    assert {k: at(v) for k, v in data["deadlines"].items()} == {k: at(v) for k, v in ticket["deadlines"].items()}

    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: c["acknowledgement"]["status"] == "met")
    assert at(clocks["acknowledgement"]["stopped_at"]) == delivered_at
    assert clocks["acknowledgement"]["margin_seconds"] == (t0 + 10 * MIN - delivered_at).total_seconds()


async def test_acknowledgements_delivered_in_one_batch_are_each_recorded_and_announced_once(
    stack: Stack, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.script = [503, 503, 503]  # all three wait for the same retry, sent as one batch
    endpoint = await subscribe_acknowledgements(stack, receiver)
    t0 = clock.now()
    tickets = [await report(stack, customer={"id": f"batch-{i}", "name": "B"}) for i in range(3)]
    await eventually(lambda: len(receiver.received) == 3)

    async def retries_due() -> datetime | None:
        found = await deliveries(stack, endpoint)
        due = [at(d["next_attempt_at"]) for d in found if d["attempts"] == 1]
        return max(d for d in due if d is not None) if len(due) == 3 else None

    delivered_at = max(await eventually(retries_due), t0 + 2 * MIN) + timedelta(seconds=1)
    clock.set(delivered_at)
    await eventually(lambda: len(receiver.of_type("ticket.acknowledged")) == 3)
    for ticket in tickets:
        clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: c["acknowledgement"]["status"] == "met")
        assert at(clocks["acknowledgement"]["stopped_at"]) == delivered_at
    async with stack.intake.runtime.engine.connect() as announced:
        rows = (
            await announced.exec_driver_sql(
                "SELECT key, count(*) FROM outbox WHERE event_type = 'ticket.acknowledged.v1' GROUP BY key"
            )
        ).all()
    assert sorted(rows) == sorted((t["id"], 1) for t in tickets)
    # A read-back after the delivery changes nothing either.
    await read_back(stack, tickets[0])
    await asyncio.sleep(0.2)
    clocks = await sla_cycles_when(stack.sla, tickets[0]["id"], lambda c: "resolution" in c)
    assert at(clocks["acknowledgement"]["stopped_at"]) == delivered_at


async def test_an_unsubscribed_channels_first_read_back_meets_the_acknowledgement(
    stack: Stack, clock: FrozenClock, platform: PlatformSettings
) -> None:
    t0 = clock.now()
    ticket = await report(stack)
    # Routing's assignment is not the acknowledgement.
    story = Story(
        created_at=t0, ticket_id=uuid.UUID(ticket["id"]), number=ticket["number"], customer_id=ticket["customer"]["id"]
    )
    await publish(platform, story.assigned(t0 + MIN, agent="agent-test"))
    await eventually(lambda: _routed(stack, ticket))
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "resolution" in c)
    assert clocks["acknowledgement"]["status"] == "running"

    clock.set(t0 + 4 * MIN)
    shown = await read_back(stack, ticket)
    assert at(shown["deadlines"]["acknowledgement_due"]) == t0 + 10 * MIN
    clock.set(t0 + 6 * MIN)
    await read_back(stack, ticket)  # a second read-back changes nothing
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: c["acknowledgement"]["status"] == "met")
    assert at(clocks["acknowledgement"]["stopped_at"]) == t0 + 4 * MIN
    clock.set(t0 + 11 * MIN)
    await asyncio.sleep(0.3)
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "resolution" in c)
    assert clocks["acknowledgement"]["status"] == "met"


async def _routed(stack: Stack, ticket: dict[str, Any]) -> bool:
    """sla took the assignment (the ticket shows its department)."""
    r = await stack.sla.client.get(f"/v1/tickets/{ticket['id']}/sla", headers=admin_headers())
    return bool(r.json().get("department_id"))


async def test_no_delivery_and_no_read_back_within_ten_minutes_is_a_breach(
    stack: Stack, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.status = 500  # the subscribed channel's endpoint never takes it
    await subscribe_acknowledgements(stack, receiver)
    t0 = clock.now()
    ticket = await report(stack)
    await eventually(lambda: len(receiver.received) >= 1)
    await read_back(stack, ticket)  # a subscribed channel's read-back is not the acknowledgement

    clock.set(t0 + 10 * MIN - timedelta(seconds=1))
    await asyncio.sleep(0.3)
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "resolution" in c)
    assert clocks["acknowledgement"]["status"] == "running"
    clock.set(t0 + 10 * MIN)
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: c["acknowledgement"]["status"] == "breached")
    assert at(clocks["acknowledgement"]["breached_at"]) == t0 + 10 * MIN
    breaches = await stack.sla.client.get("/v1/breaches?metric=acknowledgement", headers=admin_headers())
    assert [i["ticket_id"] for i in breaches.json()["items"]] == [ticket["id"]]


async def test_live_access_is_met_when_the_owner_is_connected_not_when_routing_assigns(
    stack: Stack, clock: FrozenClock, platform: PlatformSettings
) -> None:
    t0 = clock.now()
    ticket = await report(stack, channel="phone")
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "live_access" in c)
    assert at(clocks["live_access"]["due_at"]) == t0 + timedelta(seconds=30)
    story = Story(
        created_at=t0, ticket_id=uuid.UUID(ticket["id"]), number=ticket["number"], customer_id=ticket["customer"]["id"]
    )
    await publish(platform, story.assigned(t0 + timedelta(seconds=2), agent="agent-test"))

    async def owned() -> bool:
        r = await stack.intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())
        return bool((r.json().get("assignee") or {}).get("agent_id") == "agent-test")

    await eventually(owned)
    await eventually(lambda: _routed(stack, ticket))
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: "resolution" in c)
    assert clocks["live_access"]["status"] == "running"  # assigned, yet nobody is connected

    url = f"/v1/tickets/{ticket['id']}/connected"
    other = await stack.intake.client.post(url, headers=agent_headers("agent-other"))
    assert (other.status_code, other.json()["error"]["code"]) == (403, "not_the_assignee")
    connected_at = t0 + timedelta(seconds=20)
    clock.set(connected_at)
    r = await stack.intake.client.post(url, headers=agent_headers("agent-test"))
    assert r.status_code == 200, r.text
    clock.set(t0 + timedelta(seconds=25))
    assert (await stack.intake.client.post(url, headers=agent_headers("agent-test"))).status_code == 200  # idempotent
    clocks = await sla_cycles_when(stack.sla, ticket["id"], lambda c: c["live_access"]["status"] == "met")
    assert at(clocks["live_access"]["stopped_at"]) == connected_at
    assert clocks["live_access"]["margin_seconds"] == 10
