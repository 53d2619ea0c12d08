"""intake's counter queues over real HTTP, on a real PostgreSQL and broker, with a clock the
tests move: numbers and places, estimates from the service rate, serving a number as a real
ticket, and `care.wait_exceeded` exactly once per entry past the wait limit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import (
    DEV_CHANNEL_KEY,
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    pseudonym_in,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.channels.service import authenticate
from ticketloop_intake.counters import service as counter_service
from ticketloop_intake.counters.models import QueueEntry
from ticketloop_intake.counters.scheduled import raise_wait_exceeded
from ticketloop_intake.counters.schemas import ServeRequest
from ticketloop_intake.db import messaging
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets.models import Ticket
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WAIT_EXCEEDED = "care.wait_exceeded.v1"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    # The background sweep runs once at start (an empty queue), then the tests sweep themselves;
    # counter queues handle no events, so no consumer (and no group join to wait for).
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        counter_sweep_seconds=3600,
        consumer_enabled=False,
    )
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def create_counter(intake: RunningService, name: str = "store-1", **extra: Any) -> dict[str, Any]:
    r = await intake.client.post("/v1/counters", json={"name": name, **extra}, headers=admin_headers())
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def take(intake: RunningService, counter: str = "store-1", **body: Any) -> dict[str, Any]:
    payload = {"customer_id": f"cust-{uuid.uuid4().hex[:8]}", **body}
    r = await intake.client.post(f"/v1/counters/{counter}/queue", json=payload, headers=channel_headers())
    assert r.status_code == 201, r.text
    taken: dict[str, Any] = r.json()
    return taken


def problem(**overrides: Any) -> dict[str, Any]:
    """A valid serve body: the problem heard at the counter."""
    body: dict[str, Any] = {
        "category": "product_quality",
        "need": "repair",
        "urgency": "urgent",
        "subject": "Kettle stopped working",
        "description": "Bought last week, it no longer heats.",
        "customer_name": "Li Wei",
    }
    body.update(overrides)
    return body


async def serve_number(intake: RunningService, entry: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    r = await intake.client.post(
        f"/v1/counters/{entry['counter']}/queue/{entry['id']}/serve",
        json=problem(**overrides),
        headers=channel_headers(),
    )
    assert r.status_code == 201, r.text
    served: dict[str, Any] = r.json()
    return served


async def queue(intake: RunningService, counter: str = "store-1") -> dict[str, Any]:
    r = await intake.client.get(f"/v1/counters/{counter}/queue", headers=channel_headers())
    assert r.status_code == 200, r.text
    shown: dict[str, Any] = r.json()
    return shown


async def count(intake: RunningService, what: Any) -> int:
    async with intake.runtime.sessions() as session:
        return int(await session.scalar(what) or 0)


def announced() -> Any:
    outbox = messaging.outbox
    return select(func.count()).select_from(outbox).where(outbox.c.event_type == WAIT_EXCEEDED)


async def sweep(intake: RunningService) -> int:
    async with intake.runtime.unit_of_work() as uow:
        return await raise_wait_exceeded(uow)


async def test_numbers_run_per_counter_per_day_with_places_and_default_estimates(
    intake: RunningService, clock: FrozenClock
) -> None:
    await create_counter(intake)
    await create_counter(intake, "branch-2", prefix="B")
    first, second, third = [await take(intake) for _ in range(3)]
    assert [e["number"] for e in (first, second, third)] == ["A001", "A002", "A003"]
    assert [e["position"] for e in (first, second, third)] == [1, 2, 3]
    # no service history yet: the default 5 minutes per position
    assert [e["estimated_wait_seconds"] for e in (first, second, third)] == [300, 600, 900]
    assert first["status"] == "waiting" and first["wait_exceeded"] is False and first["ticket"] is None
    assert (await take(intake, "branch-2"))["number"] == "B001"
    clock.set(T0 + timedelta(days=1))
    assert (await take(intake))["number"] == "A001"  # a new day starts again


async def test_the_queue_shows_order_places_waited_time_and_estimates(
    intake: RunningService, clock: FrozenClock
) -> None:
    await create_counter(intake)
    first = await take(intake)
    clock.set(T0 + timedelta(minutes=2))
    second = await take(intake)
    clock.set(T0 + timedelta(minutes=3))
    for headers in (channel_headers(), agent_headers()):
        r = await intake.client.get("/v1/counters/store-1/queue", headers=headers)
        assert r.status_code == 200, r.text
        shown = r.json()
        assert shown["waiting"] == 2 and shown["estimate_basis"] == "default"
        assert [(e["id"], e["position"]) for e in shown["entries"]] == [(first["id"], 1), (second["id"], 2)]
        assert [e["waited_seconds"] for e in shown["entries"]] == [180, 60]
        assert [e["estimated_wait_seconds"] for e in shown["entries"]] == [300, 600]
    assert (await intake.client.get("/v1/counters/store-1/queue")).status_code == 401


async def test_with_a_served_history_the_estimate_follows_the_service_rate(
    intake: RunningService, clock: FrozenClock
) -> None:
    await create_counter(intake)
    entries = [await take(intake) for _ in range(5)]
    for minute, entry in zip((2, 4, 6), entries, strict=False):  # one serve every two minutes
        clock.set(T0 + timedelta(minutes=minute))
        await serve_number(intake, entry)
    shown = await queue(intake)
    assert shown["estimate_basis"] == "recent_serves" and shown["seconds_per_position"] == 120
    assert [e["estimated_wait_seconds"] for e in shown["entries"]] == [120, 240]
    assert (await take(intake))["estimated_wait_seconds"] == 360  # third in the queue
    # serves older than the window no longer count: back to the default
    clock.set(T0 + timedelta(hours=2))
    later = await queue(intake)
    assert later["estimate_basis"] == "default" and later["entries"][0]["estimated_wait_seconds"] == 300


async def test_serving_a_number_opens_a_real_ticket_on_channel_counter(
    intake: RunningService, clock: FrozenClock
) -> None:
    await create_counter(intake)
    entry = await take(intake, customer_id="cust-li")
    behind = await take(intake)
    clock.set(T0 + timedelta(minutes=4))
    served = await serve_number(intake, entry)
    assert served["status"] == "served" and served["served_at"] is not None
    assert served["waited_seconds"] == 240 and served["wait_exceeded"] is False
    assert served["position"] is None and served["estimated_wait_seconds"] is None
    ticket_ref = served["ticket"]
    r = await intake.client.get(f"/v1/tickets/{ticket_ref['id']}", headers=admin_headers())
    assert r.status_code == 200, r.text
    ticket = r.json()
    assert ticket["number"] == ticket_ref["number"] and ticket["channel"] == "counter"
    assert ticket["customer"]["id"] == pseudonym_in(intake, "cust-li") and ticket["customer"]["name"] == "Li Wei"
    back = await intake.client.get(f"/v1/channel/tickets/{ticket_ref['id']}", headers=channel_headers())
    assert back.json()["customer"]["id"] == "cust-li", "the counter reads back its own reference"
    assert (ticket["category"], ticket["need"], ticket["urgency"]) == ("product_quality", "repair", "urgent")
    assert ticket["subject"] == "Kettle stopped working"
    # the number left the queue; the one behind it moved up
    shown = await queue(intake)
    assert [(e["id"], e["position"]) for e in shown["entries"]] == [(behind["id"], 1)]
    read = await intake.client.get(f"/v1/counters/store-1/queue/{entry['id']}", headers=agent_headers())
    assert read.json()["ticket"] == ticket_ref


async def test_a_number_that_left_the_queue_cannot_be_served_or_cancelled_again(intake: RunningService) -> None:
    await create_counter(intake)
    served_entry, cancelled_entry = await take(intake), await take(intake)
    served = await serve_number(intake, served_entry)
    base = "/v1/counters/store-1/queue"
    again = await intake.client.post(f"{base}/{served_entry['id']}/serve", json=problem(), headers=channel_headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "entry_served"
    details = again.json()["error"]["details"]
    assert details["status"] == "served" and details["ticket_id"] == served["ticket"]["id"]
    assert (
        await intake.client.post(f"{base}/{served_entry['id']}/cancel", headers=channel_headers())
    ).status_code == 409
    cancelled = await intake.client.post(f"{base}/{cancelled_entry['id']}/cancel", headers=channel_headers())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    for action, body in (("serve", problem()), ("cancel", None)):
        r = await intake.client.post(f"{base}/{cancelled_entry['id']}/{action}", json=body, headers=channel_headers())
        assert r.status_code == 409 and r.json()["error"]["details"]["status"] == "cancelled"
    assert (await queue(intake))["entries"] == []
    assert await count(intake, select(func.count()).select_from(Ticket)) == 1


async def test_unknown_counters_and_entries_are_404_and_counter_names_are_slugs(intake: RunningService) -> None:
    await create_counter(intake)
    await create_counter(intake, "store-2")
    entry = await take(intake)
    headers = channel_headers()
    unknown = await intake.client.post("/v1/counters/nowhere/queue", json={"customer_id": "c"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "counter_not_found"
    assert (await intake.client.get("/v1/counters/nowhere/queue", headers=headers)).status_code == 404
    missing = await intake.client.post(f"/v1/counters/store-1/queue/{uuid.uuid4()}/cancel", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "entry_not_found"
    elsewhere = await intake.client.post(f"/v1/counters/store-2/queue/{entry['id']}/cancel", headers=headers)
    assert elsewhere.status_code == 404  # an entry belongs to its own counter
    for bad in ("Store-1", "-store", "store_1", "x" * 65):
        r = await intake.client.post(f"/v1/counters/{bad}/queue", json={"customer_id": "c"}, headers=headers)
        assert r.status_code == 422, bad
        registered = await intake.client.post("/v1/counters", json={"name": bad}, headers=admin_headers())
        assert registered.status_code == 422, bad
    bad_zone = await intake.client.post(
        "/v1/counters", json={"name": "store-3", "time_zone": "Mars/Olympus"}, headers=admin_headers()
    )
    assert bad_zone.status_code == 422
    taken = await intake.client.post("/v1/counters", json={"name": "store-1"}, headers=admin_headers())
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "counter_exists"
    assert (await intake.client.post("/v1/counters", json={"name": "x"}, headers=agent_headers())).status_code == 403


async def test_taking_a_number_is_idempotent_per_key(intake: RunningService) -> None:
    await create_counter(intake)
    body = {"customer_id": "cust-retry", "customer_name": "Ann"}
    headers = channel_headers(**{"Idempotency-Key": "take-1"})
    first = await intake.client.post("/v1/counters/store-1/queue", json=body, headers=headers)
    second = await intake.client.post("/v1/counters/store-1/queue", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    burst = await asyncio.gather(
        *(
            intake.client.post(
                "/v1/counters/store-1/queue", json=body, headers=channel_headers(**{"Idempotency-Key": "take-2"})
            )
            for _ in range(6)
        )
    )
    assert {r.status_code for r in burst} == {201} and len({r.json()["id"] for r in burst}) == 1
    assert await count(intake, select(func.count()).select_from(QueueEntry)) == 2
    reused = await intake.client.post(
        "/v1/counters/store-1/queue", json={"customer_id": "someone-else"}, headers=headers
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"


async def test_serving_is_idempotent_per_key_and_per_entry(intake: RunningService) -> None:
    await create_counter(intake)
    entry = await take(intake)
    path = f"/v1/counters/store-1/queue/{entry['id']}/serve"
    headers = channel_headers(**{"Idempotency-Key": "serve-1"})
    first = await intake.client.post(path, json=problem(), headers=headers)
    second = await intake.client.post(path, json=problem(), headers=headers)
    assert first.status_code == second.status_code == 201 and second.json() == first.json()
    assert await count(intake, select(func.count()).select_from(Ticket)) == 1


async def test_a_serve_whose_transaction_failed_finds_its_ticket_on_retry(intake: RunningService) -> None:
    """The ticket is written in autocommit: a crash before the entry's commit must not lead a
    retried serve to a second ticket."""
    await create_counter(intake)
    entry = await take(intake)
    async with intake.runtime.sessions() as session:
        client = await authenticate(session, DEV_CHANNEL_KEY, now=T0, cache_seconds=0)
    request = ServeRequest.model_validate(problem())
    with pytest.raises(RuntimeError, match="crash"):
        async with intake.runtime.unit_of_work() as uow:
            await counter_service.serve(
                uow, counter="store-1", entry_id=uuid.UUID(entry["id"]), request=request, client=client
            )
            raise RuntimeError("crash before the commit")
    assert await count(intake, select(func.count()).select_from(Ticket)) == 1
    served = await serve_number(intake, entry)
    assert await count(intake, select(func.count()).select_from(Ticket)) == 1
    async with intake.runtime.sessions() as session:
        ticket_id = await session.scalar(select(Ticket.id))
    assert served["ticket"]["id"] == str(ticket_id)


async def test_the_customers_name_is_sealed_and_needed_to_open_the_ticket(intake: RunningService) -> None:
    await create_counter(intake)
    named = await take(intake, customer_name="Zhang San Unique")
    anonymous = await take(intake)
    async with intake.runtime.sessions() as session:
        stored = await session.scalar(select(QueueEntry.customer_name).where(QueueEntry.id == uuid.UUID(named["id"])))
    assert stored is not None and b"Zhang San Unique" not in stored
    assert "Zhang" not in str(await queue(intake))
    served = await serve_number(intake, named, customer_name=None)  # the name given with the number
    ticket = (await intake.client.get(f"/v1/tickets/{served['ticket']['id']}", headers=admin_headers())).json()
    assert ticket["customer"]["name"] == "Zhang San Unique"
    path = f"/v1/counters/store-1/queue/{anonymous['id']}/serve"
    nameless = await intake.client.post(path, json=problem(customer_name=None), headers=channel_headers())
    assert nameless.status_code == 422 and nameless.json()["error"]["code"] == "customer_name_required"
    assert (await queue(intake))["entries"][0]["id"] == anonymous["id"]  # still waiting


async def test_only_a_counter_client_hands_out_and_serves_numbers(intake: RunningService) -> None:
    await create_counter(intake)
    entry = await take(intake)
    r = await intake.client.post(
        "/v1/channel-clients", json={"name": "web-shop", "channels": ["web"]}, headers=admin_headers()
    )
    web = channel_headers(r.json()["api_key"])
    refused = await intake.client.post("/v1/counters/store-1/queue", json={"customer_id": "c"}, headers=web)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "channel_not_allowed"
    path = f"/v1/counters/store-1/queue/{entry['id']}"
    assert (await intake.client.post(f"{path}/serve", json=problem(), headers=web)).status_code == 403
    assert (await intake.client.post(f"{path}/cancel", headers=web)).status_code == 403
    staff = await intake.client.post("/v1/counters/store-1/queue", json={"customer_id": "c"}, headers=agent_headers())
    assert staff.status_code == 401


async def test_a_wait_past_the_limit_is_announced_exactly_once_and_never_for_served_numbers(
    intake: RunningService, clock: FrozenClock, platform: PlatformSettings
) -> None:
    await create_counter(intake)
    served_early, waiting = await take(intake), await take(intake, customer_id="cust-waiting")
    clock.set(T0 + timedelta(minutes=5))
    await serve_number(intake, served_early)
    clock.set(T0 + timedelta(minutes=20))
    assert await sweep(intake) == 0  # at the limit, not past it
    clock.set(T0 + timedelta(minutes=21))
    assert await sweep(intake) == 1
    assert await sweep(intake) == 0  # the second run finds it announced
    clock.set(T0 + timedelta(minutes=40))
    assert await sweep(intake) == 0
    assert await count(intake, announced()) == 1
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("care"), count=2, timeout=3)
    assert len(events) == 1
    [event] = events
    assert event["type"] == WAIT_EXCEEDED and event["subject"] == waiting["id"]
    assert event["data"]["number"] == "A002" and event["data"]["customer_id"] == pseudonym_in(intake, "cust-waiting")
    assert event["data"]["waited_seconds"] == 21 * 60 and event["data"]["limit_seconds"] == 20 * 60
    shown = (await queue(intake))["entries"][0]
    assert shown["wait_exceeded"] is True and datetime.fromisoformat(shown["wait_exceeded_at"]) == T0 + timedelta(
        minutes=21
    )
    served = await serve_number(intake, waiting)
    assert served["wait_exceeded"] is True and served["waited_seconds"] == 40 * 60


async def test_two_sweeps_at_once_announce_each_wait_once(intake: RunningService, clock: FrozenClock) -> None:
    await create_counter(intake)
    for _ in range(6):
        await take(intake)
    clock.set(T0 + timedelta(minutes=25))
    # One replica's sweep holds its entries while another sweeps: the second skips them all.
    async with intake.runtime.unit_of_work() as first:
        assert await raise_wait_exceeded(first) == 6
        assert await sweep(intake) == 0
    assert await sweep(intake) == 0  # and once the first committed, they no longer match
    assert await count(intake, announced()) == 6
    # Two sweeps racing from the start split the work without overlap.
    for _ in range(8):
        await take(intake)
    clock.set(T0 + timedelta(minutes=50))
    results = await asyncio.gather(sweep(intake), sweep(intake), sweep(intake))
    assert sum(results) == 8
    assert await count(intake, announced()) == 14
    async with intake.runtime.sessions() as session:
        marked = await session.scalar(
            select(func.count()).select_from(QueueEntry).where(QueueEntry.wait_exceeded_at.is_not(None))
        )
    assert marked == 14


async def test_the_wait_limit_is_a_setting(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> None:
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        counter_sweep_seconds=3600,
        counter_wait_limit_minutes=2,
        counter_default_service_minutes=1.5,
        consumer_enabled=False,
    )
    async with serve(create_app(settings, clock=clock)) as intake:
        await create_counter(intake)
        entry = await take(intake)
        assert entry["estimated_wait_seconds"] == 90
        clock.set(T0 + timedelta(minutes=3))
        assert await sweep(intake) == 1
        assert (await queue(intake))["entries"][0]["wait_exceeded"] is True


async def test_a_counter_client_sees_serves_and_cancels_only_its_own_numbers(intake: RunningService) -> None:
    await create_counter(intake)
    mine = await take(intake, customer_name="Li Wei")
    r = await intake.client.post(
        "/v1/channel-clients", json={"name": "kiosk-2", "channels": ["counter"]}, headers=admin_headers()
    )
    other = channel_headers(r.json()["api_key"])
    theirs = await intake.client.post("/v1/counters/store-1/queue", json={"customer_id": "c-other"}, headers=other)
    assert theirs.status_code == 201 and theirs.json()["position"] == 2  # its place in the whole line

    path = f"/v1/counters/store-1/queue/{mine['id']}"
    for response in (
        await intake.client.get(path, headers=other),
        await intake.client.post(f"{path}/serve", json=problem(customer_name=None), headers=other),
        await intake.client.post(f"{path}/cancel", headers=other),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "entry_not_found", response.text
    shown = await intake.client.get("/v1/counters/store-1/queue", headers=other)
    assert [e["id"] for e in shown.json()["entries"]] == [theirs.json()["id"]]
    assert [e["id"] for e in (await queue(intake))["entries"]] == [mine["id"]]
    staff = await intake.client.get("/v1/counters/store-1/queue", headers=agent_headers())
    assert [e["id"] for e in staff.json()["entries"]] == [mine["id"], theirs.json()["id"]]

    served = await serve_number(intake, mine, customer_name=None)  # the owner still serves it, name and all
    assert served["status"] == "served"
