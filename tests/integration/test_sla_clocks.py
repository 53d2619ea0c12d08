"""sla over real HTTP and a real broker: clocks start from ticket events, stop on replies and
resolution, and breach at the injected time, each announced exactly once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select, text

from tests.builders import create_ticket_created, create_ticket_replied, create_ticket_resolved
from tests.support import RunningService, agent_headers, eventually, publish, read_events, serve
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import transaction
from ticketloop_shared.events import (
    TicketCreated,
    Topics,
)
from ticketloop_shared.ids import new_id
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.unit_of_work import unit_of_work
from ticketloop_sla.app import create_app
from ticketloop_sla.clocks import service
from ticketloop_sla.settings import SlaSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIRST_RESPONSE_TEXT = timedelta(minutes=15)
FIRST_RESPONSE_VOICE = timedelta(minutes=3)
RESOLUTION = timedelta(minutes=120)


# --- builders: events as intake would publish them ------------------------------------------


def ticket_created(*, channel: str = "web", created_at: datetime = T0) -> TicketCreated:
    """A `ticket.created` for a fresh ticket."""
    return create_ticket_created(channel=channel, created_at=created_at)


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def sla_settings(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> Callable[..., Awaitable[SlaSettings]]:
    async def build(**overrides: Any) -> SlaSettings:
        # The periodic sweep runs once at start (nothing is due at T0), then not again unless asked.
        values: dict[str, Any] = {"breach_check_seconds": 3600.0, **overrides}
        return SlaSettings(database_url=await new_database("sla"), platform=platform, **values)

    return build


@pytest.fixture
async def sla(sla_settings: Callable[..., Awaitable[SlaSettings]], clock: FrozenClock) -> AsyncIterator[RunningService]:
    async with serve(create_app(await sla_settings(), clock=clock)) as running:
        yield running


def sla_topic(platform: PlatformSettings) -> str:
    return Topics(platform.topic_prefix).for_family("sla")


async def topic_size(platform: PlatformSettings, topic: str) -> int:
    """How many records `topic` holds, read to the high watermark of every partition (Tansu's
    ListOffsets answer counts record batches, not records, so `end_offsets` would undercount)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka_bootstrap, group_id=None, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(platform.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count = 0
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            count += sum(len(records) for records in batch.values())
            positions = [(await consumer.position(tp), consumer.highwater(tp)) for tp in partitions]
            if all(end is not None and position >= end for position, end in positions):
                return count
    finally:
        await consumer.stop()


async def clocks_of(sla: RunningService, ticket_id: UUID) -> dict[str, dict[str, Any]]:
    """The ticket's clocks by kind, as `GET /v1/tickets/{id}/sla` shows them."""
    r = await sla.client.get(f"/v1/tickets/{ticket_id}/sla", headers=agent_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket_id"] == str(ticket_id)
    return {c["clock"]: c for c in body["clocks"]}


async def clocks_when(
    sla: RunningService, ticket_id: UUID, check: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    """The ticket's clocks once `check` holds (the consumer works asynchronously)."""

    async def probe() -> dict[str, dict[str, Any]] | None:
        r = await sla.client.get(f"/v1/tickets/{ticket_id}/sla", headers=agent_headers())
        if r.status_code != 200:
            return None
        clocks = {c["clock"]: c for c in r.json()["clocks"]}
        return clocks if check(clocks) else None

    result: dict[str, dict[str, Any]] = await eventually(probe)
    return result


async def emitted(sla: RunningService) -> list[tuple[str, str]]:
    """(type, clock) of every event sla has written to its outbox, in order: exactly what it emits."""
    table = sla.runtime.spec.messaging.outbox
    async with sla.runtime.sessions() as session:
        rows = (await session.execute(select(table.c.event_type, table.c.payload).order_by(table.c.seq))).all()
    return [(row.event_type, json.loads(row.payload)["data"]["clock"]) for row in rows]


async def sweep(sla: RunningService, *, now: datetime) -> int:
    """One breach check at `now`, in its own unit of work on the running service."""
    runtime = sla.runtime
    async with unit_of_work(
        runtime.sessions,
        outbox=runtime.outbox,
        clock=FrozenClock(now),
        settings=cast(SlaSettings, runtime.settings),
        source="sla",
        on_commit=runtime.wake_relay,
    ) as uow:
        return await service.check_breaches(uow)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


# --- specifications -------------------------------------------------------------------------


async def test_ticket_created_starts_both_clocks_with_channel_deadlines(
    sla: RunningService, platform: PlatformSettings
) -> None:
    web, phone = ticket_created(channel="web"), ticket_created(channel="phone")
    await publish(platform, web, phone)

    for created, first_response in ((web, FIRST_RESPONSE_TEXT), (phone, FIRST_RESPONSE_VOICE)):
        clocks = await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)
        assert list(clocks) == ["first_response", "resolution"]
        first, resolution = clocks["first_response"], clocks["resolution"]
        assert {first["status"], resolution["status"]} == {"running"}
        assert at(first["started_at"]) == at(resolution["started_at"]) == T0
        assert at(first["due_at"]) == T0 + first_response
        assert at(resolution["due_at"]) == T0 + RESOLUTION
        # remaining time counts from the injected clock (still T0)
        assert first["remaining_seconds"] == first_response.total_seconds()
        assert resolution["remaining_seconds"] == RESOLUTION.total_seconds()
        assert first["stopped_at"] is None and first["breached_at"] is None
    assert await emitted(sla) == []


async def test_reply_before_the_deadline_meets_first_response_once(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created()
    replied = create_ticket_replied(created, at=T0 + timedelta(minutes=14))
    await publish(platform, created, replied)

    clocks = await clocks_when(sla, created.data.ticket_id, lambda c: c["first_response"]["status"] != "running")
    assert clocks["first_response"]["status"] == "met"
    assert at(clocks["first_response"]["stopped_at"]) == T0 + timedelta(minutes=14)
    assert clocks["first_response"]["remaining_seconds"] is None
    assert clocks["resolution"]["status"] == "running"

    [event] = await read_events(platform, sla_topic(platform), count=1)
    assert (event["type"], event["source"], event["subject"]) == ("sla.met.v1", "sla", str(created.data.ticket_id))
    assert event["data"]["clock"] == "first_response"
    assert at(event["data"]["due_at"]) == T0 + FIRST_RESPONSE_TEXT
    assert at(event["data"]["stopped_at"]) == T0 + timedelta(minutes=14)
    # correlated with the conversation, caused by the reply
    assert event["correlation_id"] == str(created.data.ticket_id)
    assert event["causation_id"] == str(replied.id)
    assert await emitted(sla) == [("sla.met.v1", "first_response")]


async def test_breach_fires_at_the_deadline_not_before_and_only_once(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created()
    await publish(platform, created)
    await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)
    due = T0 + FIRST_RESPONSE_TEXT

    assert await sweep(sla, now=due - timedelta(seconds=1)) == 0
    assert await emitted(sla) == []

    assert await sweep(sla, now=due) == 1
    assert await emitted(sla) == [("sla.breached.v1", "first_response")]
    [event] = await read_events(platform, sla_topic(platform), count=1)
    assert (event["type"], event["subject"]) == ("sla.breached.v1", str(created.data.ticket_id))
    assert event["data"]["clock"] == "first_response"
    assert at(event["data"]["breached_at"]) == due
    assert event["data"]["stopped_at"] is None
    assert event["correlation_id"] == str(created.data.ticket_id)  # no cause, but the ticket's conversation
    assert event["causation_id"] is None
    assert await topic_size(platform, sla_topic(platform)) == 1

    assert await sweep(sla, now=due) == 0
    assert await sweep(sla, now=due + timedelta(minutes=10)) == 0
    assert await emitted(sla) == [("sla.breached.v1", "first_response")]
    assert await topic_size(platform, sla_topic(platform)) == 1

    clocks = await clocks_of(sla, created.data.ticket_id)
    assert clocks["first_response"]["status"] == "breached"
    assert at(clocks["first_response"]["breached_at"]) == due
    assert clocks["resolution"]["status"] == "running"


async def test_the_same_reply_delivered_twice_has_one_effect(sla: RunningService, platform: PlatformSettings) -> None:
    created = ticket_created()
    replied = create_ticket_replied(created, at=T0 + timedelta(minutes=5))
    resolved = create_ticket_resolved(
        created, at=T0 + timedelta(minutes=30), first_response_at=T0 + timedelta(minutes=5)
    )
    # Same key, same partition: once the resolution shows, both copies of the reply were consumed.
    await publish(platform, created, replied, replied, resolved)

    clocks = await clocks_when(sla, created.data.ticket_id, lambda c: c["resolution"]["status"] != "running")
    assert clocks["first_response"]["status"] == clocks["resolution"]["status"] == "met"
    assert await emitted(sla) == [("sla.met.v1", "first_response"), ("sla.met.v1", "resolution")]
    events = await read_events(platform, sla_topic(platform), count=2)
    assert sorted(e["data"]["clock"] for e in events) == ["first_response", "resolution"]
    assert await topic_size(platform, sla_topic(platform)) == 2


async def test_reply_arriving_before_created_still_ends_with_correct_clocks(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created(channel="phone")
    await publish(platform, create_ticket_replied(created, at=T0 + timedelta(minutes=2)), created)

    assert sla.runtime.consumer is not None
    consumer = sla.runtime.consumer
    await eventually(lambda: consumer.handled == 2)
    clocks = await clocks_of(sla, created.data.ticket_id)
    first, resolution = clocks["first_response"], clocks["resolution"]
    assert (first["status"], at(first["stopped_at"])) == ("met", T0 + timedelta(minutes=2))
    assert at(first["started_at"]) == T0 and at(first["due_at"]) == T0 + FIRST_RESPONSE_VOICE
    assert (resolution["status"], at(resolution["due_at"])) == ("running", T0 + RESOLUTION)
    assert await emitted(sla) == [("sla.met.v1", "first_response")]


async def test_a_later_reply_overtaking_the_first_does_not_move_the_first_response_time(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created()
    second = create_ticket_replied(created, at=T0 + timedelta(minutes=20), first_response=False)
    first = create_ticket_replied(created, at=T0 + timedelta(minutes=10))
    await publish(platform, created, second, first)

    assert sla.runtime.consumer is not None
    consumer = sla.runtime.consumer
    await eventually(lambda: consumer.handled == 3)
    clocks = await clocks_of(sla, created.data.ticket_id)
    assert (clocks["first_response"]["status"], at(clocks["first_response"]["stopped_at"])) == (
        "met",
        T0 + timedelta(minutes=10),
    )
    assert await emitted(sla) == [("sla.met.v1", "first_response")]


async def test_resolution_without_a_reply_stops_both_clocks(sla: RunningService, platform: PlatformSettings) -> None:
    created = ticket_created()
    await publish(
        platform, created, create_ticket_resolved(created, at=T0 + timedelta(minutes=10), first_response_at=None)
    )

    clocks = await clocks_when(sla, created.data.ticket_id, lambda c: c["resolution"]["status"] != "running")
    for kind in ("first_response", "resolution"):
        assert (clocks[kind]["status"], at(clocks[kind]["stopped_at"])) == ("met", T0 + timedelta(minutes=10))
    assert await emitted(sla) == [("sla.met.v1", "first_response"), ("sla.met.v1", "resolution")]


async def test_late_reply_before_any_sweep_is_a_breach_at_the_deadline(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created()
    await publish(platform, created, create_ticket_replied(created, at=T0 + timedelta(minutes=20)))

    clocks = await clocks_when(sla, created.data.ticket_id, lambda c: c["first_response"]["status"] != "running")
    first = clocks["first_response"]
    assert first["status"] == "breached"
    assert at(first["breached_at"]) == T0 + FIRST_RESPONSE_TEXT
    assert at(first["stopped_at"]) == T0 + timedelta(minutes=20)
    [event] = await read_events(platform, sla_topic(platform), count=1)
    assert (event["type"], event["data"]["clock"]) == ("sla.breached.v1", "first_response")
    assert await emitted(sla) == [("sla.breached.v1", "first_response")]


async def test_reply_after_a_swept_breach_records_the_stop_and_announces_nothing(
    sla: RunningService, platform: PlatformSettings
) -> None:
    created = ticket_created()
    await publish(platform, created)
    await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)
    assert await sweep(sla, now=T0 + timedelta(minutes=16)) == 1

    await publish(platform, create_ticket_replied(created, at=T0 + timedelta(minutes=17)))
    clocks = await clocks_when(sla, created.data.ticket_id, lambda c: c["first_response"]["stopped_at"] is not None)
    first = clocks["first_response"]
    assert (first["status"], at(first["breached_at"])) == ("breached", T0 + FIRST_RESPONSE_TEXT)
    assert at(first["stopped_at"]) == T0 + timedelta(minutes=17)
    assert await emitted(sla) == [("sla.breached.v1", "first_response")]


async def test_periodic_breach_check_follows_the_injected_clock(
    sla_settings: Callable[..., Awaitable[SlaSettings]], platform: PlatformSettings
) -> None:
    clock = FrozenClock(T0)
    async with serve(create_app(await sla_settings(breach_check_seconds=0.05), clock=clock)) as sla:
        created = ticket_created(channel="phone")
        await publish(platform, created)
        await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)

        clock.set(T0 + FIRST_RESPONSE_VOICE)
        [event] = await read_events(platform, sla_topic(platform), count=1)
        assert (event["type"], event["data"]["clock"]) == ("sla.breached.v1", "first_response")
        assert at(event["data"]["breached_at"]) == T0 + FIRST_RESPONSE_VOICE
        clocks = await clocks_of(sla, created.data.ticket_id)
        assert clocks["first_response"]["status"] == "breached"
        assert clocks["resolution"]["remaining_seconds"] == (RESOLUTION - FIRST_RESPONSE_VOICE).total_seconds()


async def test_one_clock_that_cannot_be_breached_does_not_stop_the_sweep(
    sla: RunningService, platform: PlatformSettings
) -> None:
    poisoned, healthy = ticket_created(created_at=T0), ticket_created(created_at=T0 + timedelta(minutes=1))
    await publish(platform, poisoned, healthy)
    for created in (poisoned, healthy):
        await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)
    # A real database failure for one ticket only: PostgreSQL refuses its outbox row.
    async with transaction(sla.runtime.sessions) as session:
        await session.execute(
            text(
                "CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.key = '{poisoned.subject}' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER refuse_poisoned BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()"
            )
        )

    # The poisoned clock is due first, so the sweep meets it first and must go on past it.
    assert await sweep(sla, now=T0 + timedelta(minutes=30)) == 1
    [event] = await read_events(platform, sla_topic(platform), count=1)
    assert (event["type"], event["subject"]) == ("sla.breached.v1", healthy.subject)
    assert (await clocks_of(sla, healthy.data.ticket_id))["first_response"]["status"] == "breached"
    # left running, untouched, for the next sweep to retry
    assert (await clocks_of(sla, poisoned.data.ticket_id))["first_response"]["status"] == "running"
    assert await emitted(sla) == [("sla.breached.v1", "first_response")]


async def test_breaches_are_listed_newest_first_and_paginated(sla: RunningService, platform: PlatformSettings) -> None:
    early, late = ticket_created(created_at=T0), ticket_created(created_at=T0 + timedelta(minutes=1))
    await publish(platform, early, late)
    for created in (early, late):
        await clocks_when(sla, created.data.ticket_id, lambda c: len(c) == 2)
    assert await sweep(sla, now=T0 + timedelta(minutes=30)) == 2

    r = await sla.client.get("/v1/breaches?limit=1", headers=agent_headers())
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 0)
    [newest] = page["items"]
    assert (newest["ticket_id"], newest["clock"]) == (str(late.data.ticket_id), "first_response")
    assert newest["ticket_number"] == late.data.number
    assert at(newest["breached_at"]) == T0 + timedelta(minutes=16)
    r = await sla.client.get("/v1/breaches?limit=1&offset=1", headers=agent_headers())
    assert [i["ticket_id"] for i in r.json()["items"]] == [str(early.data.ticket_id)]
    r = await sla.client.get("/v1/breaches?limit=0", headers=agent_headers())
    assert r.status_code == 422


async def test_unknown_ticket_is_404_and_staff_token_is_required(sla: RunningService) -> None:
    url = f"/v1/tickets/{new_id()}/sla"
    r = await sla.client.get(url, headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ticket_not_found")
    r = await sla.client.get(url)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "missing_credentials")
    r = await sla.client.get(url, headers={"Authorization": "Bearer tl1.forged.sig"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_token")
    assert (await sla.client.get("/v1/breaches")).status_code == 401
    assert (await sla.client.get("/v1/tickets/not-a-uuid/sla", headers=agent_headers())).status_code == 422
