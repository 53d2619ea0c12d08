"""Order tolerance: every consumer reaches the same state whatever order a ticket's events come
in. For each consumer, one realistic sequence of a ticket's events; for every pair (a, b) with a
before b, a fresh ticket gets the sequence with the two swapped, all pairs published in one
batch to one running service; then each ticket's state, read through the service's public API,
must equal that of a ticket that got the sequence in order."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.builders import T0, Story
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    serve,
)
from ticketloop_shared.auth import Role
from ticketloop_shared.events import Envelope, TicketReassigned, Topics
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
Sequencer = Callable[[Story], list[Envelope]]
Read = Callable[[RunningService, Story], Awaitable[Any]]


def swaps(n: int) -> list[tuple[int, int]]:
    """Every pair of positions (i, j), i before j, of a sequence of `n` events."""
    return list(itertools.combinations(range(n), 2))


def swapped(events: Sequence[Envelope], i: int, j: int) -> list[Envelope]:
    """`events` with the `i`th and `j`th delivered in each other's place."""
    out = list(events)
    out[i], out[j] = out[j], out[i]
    return out


async def publish_all(platform: PlatformSettings, events: Sequence[Envelope]) -> None:
    """Put every event on its topic in this order (keyed by subject, so one ticket's events of
    one family keep it), sending them all before waiting for any acknowledgement."""
    topics = Topics(platform.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topics.for_type(e.type), value=e.to_json(), key=e.subject.encode()) for e in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def applied(service: RunningService, events: Sequence[Envelope]) -> None:
    """Until the service's consumer has applied all `events` (each one's id is in its inbox)."""
    from sqlalchemy import text

    consumer = service.runtime.consumer
    assert consumer is not None
    ids = list({e.id for e in events})

    async def done() -> bool:
        async with service.runtime.engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(DISTINCT event_id) FROM inbox WHERE consumer = :c AND event_id = ANY(:ids)"),
                {"ids": ids, "c": consumer.group_id},
            )
        return bool(found == len(ids))

    await eventually(done, timeout=60)


async def check_every_order(
    service: RunningService,
    platform: PlatformSettings,
    sequence: Sequencer,
    read: Read,
    *,
    handled: set[str],
    stories: Sequence[Story] = (),
) -> None:
    """Deliver `sequence` in order to one ticket and with each pair swapped to one ticket per pair
    (in one batch); every ticket's state, as `read` sees it, must be the in-order one. `stories`:
    the tickets to use (the first gets the in-order sequence), when the service must hold them."""
    n = len(sequence(Story(created_at=T0)))
    pairs = swaps(n)
    in_order, *rest = stories or [Story(created_at=T0) for _ in range(len(pairs) + 1)]
    stories = rest
    batch = list(sequence(in_order))
    for story, (i, j) in zip(stories, pairs, strict=True):
        batch.extend(swapped(sequence(story), i, j))
    await publish_all(platform, batch)
    await applied(service, [e for e in batch if e.type in handled])
    expected = await read(service, in_order)
    names = [e.type.rsplit(".", 1)[0] for e in sequence(in_order)]
    wrong = []
    for story, (i, j) in zip(stories, pairs, strict=True):
        got = await read(service, story)
        if got != expected:
            wrong.append(f"{names[j]} before {names[i]}: {got!r}")
    assert not wrong, f"in order: {expected!r}\n" + "\n".join(wrong)


# --- routing ---------------------------------------------------------------------------------


@pytest.fixture
async def routing(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    from ticketloop_embedded.organisations import LOAD_ORGANISATION
    from ticketloop_routing.app import create_app
    from ticketloop_routing.settings import RoutingSettings

    # The shipped organisation without its capacities: every permutation's ticket stays with the
    # department's one agent (what is checked is the order of events, not a queue filling up).
    settings = RoutingSettings(
        database_url=await new_database("routing"), platform=platform, organisation_file=LOAD_ORGANISATION
    )
    async with serve(create_app(settings)) as running:
        yield running


def routing_story(story: Story) -> list[Envelope]:
    """Created (billing: finance, one agent), replied, made urgent, moved to logistics (supply
    chain, one agent), resolved, reopened, resolved again and closed by the customer."""
    t = story.created_at
    first = t + timedelta(minutes=5)
    return [
        story.created(),
        story.replied(first),
        story.priority_changed(first + timedelta(minutes=6)),
        story.recategorised(first + timedelta(minutes=8)),
        story.resolved(t + timedelta(hours=3), first_response_at=first),
        story.reopened(t + timedelta(hours=6)),
        story.resolved(t + timedelta(hours=7), first_response_at=first),
        story.closed(t + timedelta(days=1), resolved_at=t + timedelta(hours=7)),
    ]


def routing_story_reopened(story: Story) -> list[Envelope]:
    """The same ticket up to its reopen: it ends open, owned again."""
    return routing_story(story)[:6]


async def routing_state(routing: RunningService, story: Story) -> Any:
    """Where the ticket stands in routing: open or closed, its facts, and who owns it."""
    r = await routing.client.get(f"/v1/assignments/{story.ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    a = r.json()
    keys = ("state", "department_id", "agent_id", "category", "urgency", "closed_at", "segment")
    return {k: a[k] for k in keys} | {"number_known": a["ticket_number"] == story.number}


async def routing_closed_state(routing: RunningService, story: Story) -> Any:
    """The same for a closed ticket, without its last owner and department: those are the ones
    routing last decided while it was open (`reactions.recategorise`, `service.release`), so a
    resolve that overtook a recategorisation, or a ticket first seen finished, keeps an older
    one (or none). Its load is checked instead: no agent counts a closed ticket."""
    state = await routing_state(routing, story)
    return {k: v for k, v in state.items() if k not in ("department_id", "agent_id")}


ROUTING_HANDLED = {
    "ticket.created.v1",
    "ticket.replied.v1",
    "ticket.priority_changed.v1",
    "ticket.recategorised.v1",
    "ticket.resolved.v1",
    "ticket.reopened.v1",
    "ticket.closed.v1",
}


@pytest.mark.parametrize(
    ("sequence", "read"),
    [(routing_story, routing_closed_state), (routing_story_reopened, routing_state)],
    ids=["closed", "reopened"],
)
async def test_routing_reaches_the_same_state_in_any_order(
    routing: RunningService, platform: PlatformSettings, sequence: Sequencer, read: Read
) -> None:
    await check_every_order(routing, platform, sequence, read, handled=ROUTING_HANDLED)

    # and no agent's load counts a ticket twice or forgets one
    async def loads() -> dict[str, int]:
        agents = (await routing.client.get("/v1/agents", headers=admin_headers())).json()
        return {a["id"]: a["open_tickets"] for a in agents if a["open_tickets"]}

    owned: dict[str, int] = {}
    if sequence is routing_story_reopened:
        owned = {"agent-sc-1": len(swaps(len(sequence(Story())))) + 1}
    assert await loads() == owned


def moved(event: TicketReassigned, department: str) -> TicketReassigned:
    """`event` placing the ticket in `department` instead."""
    return event.model_copy(update={"data": event.data.model_copy(update={"department_id": department})})


# --- feedback --------------------------------------------------------------------------------


@pytest.fixture
async def feedback(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    from ticketloop_feedback.app import create_app
    from ticketloop_feedback.settings import FeedbackSettings

    settings = FeedbackSettings(database_url=await new_database("feedback"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def feedback_story(story: Story) -> list[Envelope]:
    """Placed with after-sales, resolved, reopened, moved to supply chain, resolved again."""
    t = story.created_at
    return [
        story.assigned(t + timedelta(seconds=1)),
        story.resolved(t + timedelta(hours=3)),
        story.reopened(t + timedelta(hours=6)),
        moved(story.reassigned(t + timedelta(hours=6, minutes=6)), "supply_chain"),
        story.resolved(t + timedelta(hours=7)),
    ]


async def feedback_state(feedback: RunningService, story: Story) -> Any:
    """The ticket's surveys (one per resolution: withdrawn or still standing) and which
    department's staff may read them."""
    page = await feedback.client.get("/v1/surveys", params={"customer_id": story.customer_id}, headers=admin_headers())
    assert page.status_code == 200, page.text
    surveys = sorted((s["due_at"], s["status"], s["cancel_reason"]) for s in page.json()["items"])
    readers = [
        d
        for d in ("after_sales", "supply_chain")
        if (
            await feedback.client.get(
                f"/v1/tickets/{story.ticket_id}/survey", headers=agent_headers(role=Role.SUPERVISOR, department=d)
            )
        ).status_code
        == 200
    ]
    return {"surveys": surveys, "readers": readers}


async def test_feedback_reaches_the_same_state_in_any_order(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    handled = {"ticket.assigned.v1", "ticket.reassigned.v1", "ticket.resolved.v1", "ticket.reopened.v1"}
    await check_every_order(feedback, platform, feedback_story, feedback_state, handled=handled)


# --- retrospective ---------------------------------------------------------------------------


@pytest.fixture
async def retrospective(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    from ticketloop_retrospective.app import create_app
    from ticketloop_retrospective.settings import RetrospectiveSettings

    settings = RetrospectiveSettings(database_url=await new_database("retrospective"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def retrospective_story(story: Story) -> list[Envelope]:
    """Created, assigned, replied, the customer wrote, resolved, reopened, moved, resolved again,
    closed, and the survey answered."""
    t = story.created_at
    first = t + timedelta(minutes=5)
    return [
        story.created(),
        story.assigned(t + timedelta(seconds=1)),
        story.replied(first),
        story.message_received(first + timedelta(minutes=30)),
        story.resolved(t + timedelta(hours=3), first_response_at=first),
        story.reopened(t + timedelta(hours=6)),
        moved(story.reassigned(t + timedelta(hours=6, minutes=6)), "supply_chain"),
        story.resolved(t + timedelta(hours=7), first_response_at=first),
        story.closed(t + timedelta(days=1), resolved_at=t + timedelta(hours=7)),
        story.answered_v2(t + timedelta(days=1, hours=1), csat=4),
    ]


async def retrospective_state(retrospective: RunningService, story: Story) -> Any:
    """The ticket as the weekly report's drill-down counts it."""
    r = await retrospective.client.get(
        "/v1/reports/tickets",
        params={"period": "2026-W48", "metric": "tickets_opened", "limit": 1000},
        headers=admin_headers(),
    )
    assert r.status_code == 200, r.text
    [row] = [row for row in r.json()["items"] if row["ticket_id"] == str(story.ticket_id)]
    return {k: v for k, v in row.items() if k not in ("ticket_id", "number", "customer_id")}


async def test_retrospective_reaches_the_same_state_in_any_order(
    retrospective: RunningService, platform: PlatformSettings
) -> None:
    handled = {e.type for e in retrospective_story(Story())}
    await check_every_order(retrospective, platform, retrospective_story, retrospective_state, handled=handled)


# --- sla -------------------------------------------------------------------------------------


@pytest.fixture
async def sla(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    from ticketloop_sla.app import create_app
    from ticketloop_sla.settings import SlaSettings

    settings = SlaSettings(database_url=await new_database("sla"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def sla_story(story: Story) -> list[Envelope]:
    """Created, assigned, replied, made urgent, waiting on the customer, the customer wrote,
    resolved, reopened, resolved again and closed."""
    t = story.created_at
    first = t + timedelta(minutes=5)
    return [
        story.created(),
        story.assigned(t + timedelta(seconds=1)),
        story.replied(first),
        story.priority_changed(first + timedelta(minutes=6)),
        story.status_changed(first + timedelta(minutes=7), "in_progress", "waiting_on_customer", action="wait"),
        story.message_received(first + timedelta(minutes=30)),
        story.resolved(t + timedelta(hours=3), first_response_at=first),
        story.reopened(t + timedelta(hours=6)),
        story.resolved(t + timedelta(hours=7), first_response_at=first),
        story.closed(t + timedelta(days=1), resolved_at=t + timedelta(hours=7)),
    ]


async def sla_state(sla: RunningService, story: Story) -> Any:
    """Every cycle of every metric of the ticket, and who holds it."""
    r = await sla.client.get(f"/v1/tickets/{story.ticket_id}/sla", headers=admin_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    keep = ("clock", "cycle", "status", "started_at", "due_at", "stopped_at", "breached_at", "paused_seconds")
    clocks = sorted(tuple(c[k] for k in keep) for c in body["clocks"])
    return {"status": body["status"], "department_id": body["department_id"], "agent_id": body["agent_id"]} | {
        "clocks": clocks
    }


async def sla_announcements(sla: RunningService) -> list[tuple[str, str, str, int, int | None]]:
    """(ticket, type, clock, cycle, escalation level) of every announcement in sla's outbox, and
    (ticket, type, "", version, None) of every publication of a ticket's deadlines."""
    import json

    from sqlalchemy import select

    table = sla.runtime.spec.messaging.outbox
    async with sla.runtime.sessions() as session:
        rows = (await session.execute(select(table.c.event_type, table.c.payload))).all()
    out: list[tuple[str, str, str, int, int | None]] = []
    for row in rows:
        data = json.loads(row.payload)["data"]
        if row.event_type == "sla.clocks_changed.v1":
            out.append((data["ticket_id"], row.event_type, "", data["version"], None))
        elif "clock" in data:
            out.append((data["ticket_id"], row.event_type, data["clock"], data["cycle"], data.get("level")))
    return out


async def test_sla_reaches_the_same_state_in_any_order(sla: RunningService, platform: PlatformSettings) -> None:
    handled = {e.type for e in sla_story(Story())}
    stories = [Story(created_at=T0) for _ in range(len(swaps(len(sla_story(Story())))) + 1)]
    await check_every_order(sla, platform, sla_story, sla_state, handled=handled, stories=stories)

    # and a rebuild announces nothing twice, nor misses a breach the in-order ticket announced
    announced = await sla_announcements(sla)
    twice = sorted(a for a, n in Counter(announced).items() if n > 1)
    assert not twice, twice

    def breaches(story: Story) -> set[tuple[str, int]]:
        return {(a[2], a[3]) for a in announced if a[0] == str(story.ticket_id) and a[1] == "sla.breached.v1"}

    in_order, *swapped_ones = stories
    assert breaches(in_order)
    missed = {
        str(s.ticket_id): breaches(in_order) - breaches(s) for s in swapped_ones if breaches(in_order) - breaches(s)
    }
    assert not missed, missed


def sla_placements(story: Story) -> list[Envelope]:
    """Created, queued, assigned, then moved to supply chain with a new owner."""
    t = story.created_at
    return [
        story.created(),
        story.queued(t + timedelta(milliseconds=500)),
        story.assigned(t + timedelta(seconds=1)),
        moved(story.reassigned(t + timedelta(hours=6, minutes=6)), "supply_chain"),
    ]


async def sla_holder(sla: RunningService, story: Story) -> Any:
    """Who holds the ticket, as sla shows it (its department's staff read its clocks)."""
    state = await sla_state(sla, story)
    return {"department_id": state["department_id"], "agent_id": state["agent_id"]}


async def test_sla_knows_who_holds_a_ticket_whatever_order_its_placements_come_in(
    sla: RunningService, platform: PlatformSettings
) -> None:
    handled = {e.type for e in sla_placements(Story())}
    await check_every_order(sla, platform, sla_placements, sla_holder, handled=handled)


# --- intake's own consumers ------------------------------------------------------------------


@pytest.fixture
async def intake(platform: PlatformSettings, new_database: NewDatabase) -> AsyncIterator[RunningService]:
    from ticketloop_intake.app import create_app
    from ticketloop_intake.settings import IntakeSettings

    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def intake_story(story: Story) -> list[Envelope]:
    """Routing queues the ticket, assigns it, moves it to supply chain; sla publishes its clocks
    twice."""
    t = story.created_at
    return [
        story.queued(t + timedelta(milliseconds=500)),
        story.clocks_changed(t + timedelta(milliseconds=600), version=1),
        story.assigned(t + timedelta(seconds=1)),
        moved(story.reassigned(t + timedelta(hours=6, minutes=6)), "supply_chain"),
        story.clocks_changed(t + timedelta(hours=6, minutes=7), version=2),
    ]


async def intake_state(intake: RunningService, story: Story) -> Any:
    """The ticket as staff see it: status, department, owner, and the clocks' version shown."""
    r = await intake.client.get(f"/v1/tickets/{story.ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assignee = body["assignee"] or {}
    sla = body["sla"] or {}
    return {
        "status": body["status"],
        "department_id": assignee.get("department_id"),
        "agent_id": assignee.get("agent_id"),
        "sla_version": sla.get("version"),
        "clocks": sorted((c["clock"], c["status"]) for c in sla.get("clocks", [])),
    }


async def test_intake_reaches_the_same_state_in_any_order(intake: RunningService, platform: PlatformSettings) -> None:
    from datetime import datetime

    async def report() -> Story:
        r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
        assert r.status_code == 201, r.text
        ticket = r.json()
        return Story(
            created_at=datetime.fromisoformat(ticket["created_at"]),
            ticket_id=uuid.UUID(ticket["id"]),
            number=ticket["number"],
            customer_id=ticket["customer"]["id"],
        )

    pairs = swaps(len(intake_story(Story())))
    stories = [await report() for _ in range(len(pairs) + 1)]
    handled = {e.type for e in intake_story(Story())}
    await check_every_order(intake, platform, intake_story, intake_state, handled=handled, stories=stories)


async def test_routing_applies_what_is_parked_for_a_ticket_another_transaction_routed(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    """The race the sweep covers: a priority change parked while another consumer (a rebalance)
    routed the ticket without seeing it is applied at the next queue sweep."""
    from sqlalchemy import text

    from ticketloop_routing.app import create_app
    from ticketloop_routing.settings import RoutingSettings

    settings = RoutingSettings(database_url=await new_database("routing"), platform=platform, queue_sweep_seconds=0.2)
    async with serve(create_app(settings)) as routing:
        story = Story(created_at=T0)
        change = story.priority_changed(T0 + timedelta(minutes=5))
        await publish_all(platform, [change])
        await applied(routing, [change])
        async with routing.runtime.engine.begin() as conn:  # routed elsewhere, the parked row unseen
            await conn.execute(
                text(
                    "INSERT INTO assignments (ticket_id, ticket_number, category, department_id, agent_id, state, "
                    "urgency, channel, segment, assigned_at) VALUES (:id, :number, 'billing', 'finance', "
                    "'agent-fin-1', 'assigned', 'normal', 'web', 'potential', now())"
                ),
                {"id": story.ticket_id, "number": story.number},
            )

        async def urgent() -> bool:
            return bool((await routing_state(routing, story))["urgency"] == "urgent")

        await eventually(urgent)
