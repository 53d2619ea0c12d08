"""Orders a commerce system reports to intake (issue 22, item 5): channel-key authenticated,
idempotent by the shop's own order id and by Idempotency-Key, announced with `order.recorded`
(customer by pseudonym only), precise 4xx reasons; and the knowledge base's instant answer to an
order-status question (SPEC §1: "order status … get an instant automated answer")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support import (
    RunningService,
    admin_headers,
    channel_headers,
    create_ticket_body,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.orders.models import Order
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def create_order_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/orders` body."""
    body: dict[str, Any] = {
        "order_id": f"SO-{uuid.uuid4().hex[:8]}",
        "customer_id": "jane@example.com",
        "amount": "129.90",
        "currency": "EUR",
        "status": "placed",
        "ordered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    body.update(overrides)
    return body


async def count_orders(intake: RunningService) -> int:
    async with intake.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def test_an_order_is_recorded_read_back_and_announced_without_the_customers_reference(
    intake: RunningService, platform: PlatformSettings
) -> None:
    body = create_order_body()
    r = await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    assert r.status_code == 201, r.text
    order = r.json()
    assert (order["order_id"], order["amount"], order["currency"], order["status"], order["revision"]) == (
        body["order_id"],
        "129.90",
        "EUR",
        "placed",
        1,
    )
    assert order["customer_id"].startswith("cus_") and r.headers["ETag"] == '"1"'
    got = await intake.client.get(f"/v1/orders/{body['order_id']}", headers=channel_headers())
    assert got.status_code == 200 and got.json() == order

    [event] = await read_events(platform, Topics(platform.topic_prefix).for_family("order"), count=1)
    assert event["type"] == "order.recorded.v1"
    assert event["subject"] == order["customer_id"]
    data = event["data"]
    assert (data["order_id"], data["customer_id"], data["amount"], data["currency"], data["status"]) == (
        body["order_id"],
        order["customer_id"],
        "129.90",
        "EUR",
        "placed",
    )
    assert data["revision"] == 1
    assert "jane@example.com" not in str(event)


async def test_the_same_order_reported_again_is_a_replay_recorded_and_announced_once(
    intake: RunningService, platform: PlatformSettings
) -> None:
    body = create_order_body()
    first = await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    again = await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    keyed = channel_headers(**{"Idempotency-Key": "order-retry-1"})
    other = create_order_body()
    one = await intake.client.post("/v1/orders", json=other, headers=keyed)
    two = await intake.client.post("/v1/orders", json=other, headers=keyed)
    assert one.status_code == two.status_code == 201
    assert two.json() == one.json() and two.headers["Idempotent-Replayed"] == "true"
    assert await count_orders(intake) == 2
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("order"), count=2)
    assert sorted(e["data"]["order_id"] for e in events) == sorted([body["order_id"], other["order_id"]])


async def test_concurrent_duplicates_of_one_order_record_it_once(
    intake: RunningService, platform: PlatformSettings
) -> None:
    body = create_order_body()
    responses = await asyncio.gather(
        *(intake.client.post("/v1/orders", json=body, headers=channel_headers()) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["revision"] for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert await count_orders(intake) == 1
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("order"), count=1)
    assert len(events) == 1


async def test_status_changes_bump_the_revision_follow_the_lifecycle_and_are_announced(
    intake: RunningService, platform: PlatformSettings
) -> None:
    body = create_order_body()
    await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    url = f"/v1/orders/{body['order_id']}"
    shipped = await intake.client.patch(url, json={"status": "shipped"}, headers=channel_headers())
    assert shipped.status_code == 200, shipped.text
    assert (shipped.json()["status"], shipped.json()["revision"], shipped.headers["ETag"]) == ("shipped", 2, '"2"')
    same = await intake.client.patch(url, json={"status": "shipped"}, headers=channel_headers())
    assert (same.status_code, same.json()["revision"]) == (200, 2)
    stale = await intake.client.patch(url, json={"status": "delivered"}, headers=channel_headers(**{"If-Match": '"1"'}))
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "order_changed")
    delivered = await intake.client.patch(
        url, json={"status": "delivered"}, headers=channel_headers(**{"If-Match": '"2"'})
    )
    assert (delivered.status_code, delivered.json()["revision"]) == (200, 3)
    back = await intake.client.patch(url, json={"status": "paid"}, headers=channel_headers())
    assert (back.status_code, back.json()["error"]["code"]) == (409, "invalid_transition")
    assert back.json()["error"]["details"]["allowed"] == ["returned"]
    # The first report again (a delayed retry) replays; a later status by POST points to PATCH.
    replay = await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    assert (replay.status_code, replay.json()["status"]) == (201, "delivered")
    later = await intake.client.post("/v1/orders", json={**body, "status": "returned"}, headers=channel_headers())
    assert (later.status_code, later.json()["error"]["code"]) == (409, "order_exists")
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("order"), count=3)
    assert [(e["data"]["status"], e["data"]["revision"]) for e in events] == [
        ("placed", 1),
        ("shipped", 2),
        ("delivered", 3),
    ]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"amount": 129.9}, 422, "amount_not_a_string"),
        ({"amount": "-3"}, 422, "string_pattern_mismatch"),
        ({"amount": "12.34567"}, 422, "string_pattern_mismatch"),
        ({"amount": "1e3"}, 422, "string_pattern_mismatch"),
        ({"currency": "eur"}, 422, "string_pattern_mismatch"),
        ({"currency": "EURO"}, 422, "string_pattern_mismatch"),
        ({"status": "lost"}, 422, "enum"),
        ({"order_id": "a/b"}, 422, "string_pattern_mismatch"),
        ({"ordered_at": "2026-12-01T10:00:00"}, 422, "timezone_aware"),
        ({"customer_id": ""}, 422, "string_too_short"),
        ({"colour": "red"}, 422, "extra_forbidden"),
    ],
)
async def test_bad_orders_are_refused_with_the_field_and_why(
    intake: RunningService, change: dict[str, Any], status: int, code: str
) -> None:
    r = await intake.client.post("/v1/orders", json=create_order_body(**change), headers=channel_headers())
    assert r.status_code == status, r.text
    found = r.json()["error"]
    assert code in str(found), found
    assert await count_orders(intake) == 0


async def test_an_order_in_the_future_another_clients_order_and_a_different_order_under_one_id(
    intake: RunningService,
) -> None:
    future = create_order_body(ordered_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    r = await intake.client.post("/v1/orders", json=future, headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (422, "ordered_at_in_future")
    body = create_order_body()
    await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    r = await intake.client.post("/v1/orders", json={**body, "amount": "5.00"}, headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["details"]["fields"]) == (
        409,
        "order_conflict",
        ["amount"],
    )
    created = await intake.client.post(
        "/v1/channel-clients", json={"name": "other-shop", "channels": ["web"]}, headers=admin_headers()
    )
    stranger = channel_headers(created.json()["api_key"])
    theirs = await intake.client.get(f"/v1/orders/{body['order_id']}", headers=stranger)
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "order_not_found")
    nobody = await intake.client.post("/v1/orders", json=create_order_body(), headers={})
    assert nobody.status_code == 401


async def test_an_order_status_question_is_answered_from_the_customers_latest_order(intake: RunningService) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    older = create_order_body(customer_id=customer, ordered_at=(now - timedelta(days=9)).isoformat())
    latest = create_order_body(customer_id=customer, ordered_at=(now - timedelta(days=2)).isoformat())
    for body in (older, latest):
        await intake.client.post("/v1/orders", json=body, headers=channel_headers())
    await intake.client.patch(f"/v1/orders/{latest['order_id']}", json={"status": "shipped"}, headers=channel_headers())

    def report(**overrides: Any) -> dict[str, Any]:
        body = create_ticket_body(
            **{"need": "information", "category": "logistics_delay", "new_ticket": True, **overrides}
        )
        body["customer"]["id"] = customer
        return body

    asked = await intake.client.post(
        "/v1/tickets",
        json=report(subject="Where is my parcel?", description="Still waiting."),
        headers=channel_headers(),
    )
    assert asked.status_code == 201, asked.text
    answer = asked.json()["order_status"]
    assert (answer["order_id"], answer["status"]) == (latest["order_id"], "shipped")
    assert latest["order_id"] in answer["text"] and "shipped" in answer["text"]
    # An order named in the text is the one answered about, whatever the category.
    named = await intake.client.post(
        "/v1/tickets",
        json=report(category="other", subject="Question", description=f"What about {older['order_id']}?"),
        headers=channel_headers(),
    )
    assert named.json()["order_status"]["order_id"] == older["order_id"]
    # Not a question (a refund), or a question about something else: no order answer.
    refund = await intake.client.post(
        "/v1/tickets", json=report(need="refund", subject="My order"), headers=channel_headers()
    )
    unrelated = await intake.client.post(
        "/v1/tickets",
        json=report(category="account", subject="Password", description="How do I change it?"),
        headers=channel_headers(),
    )
    assert refund.json()["order_status"] is None and unrelated.json()["order_status"] is None
