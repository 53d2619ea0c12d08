"""Webhooks over real HTTP, PostgreSQL and broker: a channel subscribes and receives its tickets'
events signed (checked by the independent `standardwebhooks` verifier), secrets rotate with an
overlap, failures are retried on a schedule driven by an injected clock, 410 and continuous
failure disable an endpoint, deliveries replay, private addresses are refused, an admin
subscription receives catalog events without personal data, and order per ticket holds through
a receiver outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support import (
    Receiver,
    RunningService,
    admin_headers,
    agent_headers,
    assign_in_intake,
    channel_headers,
    columns_holding,
    create_ticket_body,
    eventually,
    pseudonym_in,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.webhooks import cli
from ticketloop_intake.webhooks.schemas import ReplayRange
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings

OWNER = agent_headers("agent-test", department="after_sales")
CHANNEL_HOOKS = "/v1/channel/webhooks"
ADMIN_HOOKS = "/v1/webhooks"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        webhooks_allow_private=True,
        webhooks_poll_seconds=0.05,
    )
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def subscribe(
    intake: RunningService, url: str, types: list[str], *, admin: bool = False
) -> tuple[dict[str, Any], str]:
    r = await intake.client.post(
        ADMIN_HOOKS if admin else CHANNEL_HOOKS,
        json={"url": url, "event_types": types},
        headers=admin_headers() if admin else channel_headers(),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert body["secret"].startswith("whsec_")
    return body, body["secret"]


async def owned_ticket(intake: RunningService, platform: PlatformSettings) -> dict[str, Any]:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    await assign_in_intake(intake, platform, ticket)
    return ticket


async def deliveries(intake: RunningService, endpoint_id: str, *, admin: bool = False) -> list[dict[str, Any]]:
    base = ADMIN_HOOKS if admin else CHANNEL_HOOKS
    r = await intake.client.get(
        f"{base}/{endpoint_id}/deliveries", headers=admin_headers() if admin else channel_headers()
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def test_the_customer_link_is_kept_nowhere_in_intakes_database(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver
) -> None:
    await subscribe(intake, receiver.url, ["ticket.resolved"])
    ticket = await owned_ticket(intake, platform)
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "Refunded"}, headers=OWNER)
    assert r.status_code == 200, r.text
    shown = r.json()["customer_link"]["url"]
    await eventually(lambda: receiver.of_type("ticket.resolved"))
    sent = receiver.of_type("ticket.resolved")[0].json["data"]["link_url"]
    assert sent == shown
    token = sent.rsplit("/", 1)[-1]
    # signed, not stored: no column of any table holds it (the queued delivery is sealed)
    assert await columns_holding(intake.runtime.settings.database_url, token) == []
    r = await intake.client.post(f"/v1/customer-links/{token}/confirm")
    assert (r.status_code, r.json()["status"]) == (200, "closed")


async def test_an_agent_reply_reaches_the_channel_signed_and_a_rotated_secret_overlaps(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver
) -> None:
    endpoint, secret = await subscribe(intake, receiver.url, ["ticket.replied", "ticket.resolved", "ticket.waiting"])
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    r = await intake.client.post(f"{url}/replies", json={"body": "Your refund is on its way"}, headers=OWNER)
    assert r.status_code == 201, r.text

    await eventually(lambda: receiver.of_type("ticket.replied"))
    got = receiver.of_type("ticket.replied")[0]
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["id"] == got.headers["webhook-id"]
    data = payload["data"]
    assert data["ticket_id"] == ticket["id"] and data["number"] == ticket["number"]
    assert data["message"]["text"] == "Your refund is on its way"
    assert data["customer_id"] == ticket["customer"]["id"] and data["channel"] == ticket["channel"]
    # the channel's own reference for its customer (as it sent it), not the pseudonym staff see
    assert data["customer_id"].startswith("cust-")
    staff_view = (await intake.client.get(url, headers=admin_headers())).json()
    assert staff_view["customer"]["id"] == pseudonym_in(intake, data["customer_id"])
    assert data["contact"] == "jane@example.com"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(got.body, got.headers)

    # A request for information, then the resolution with the customer's links.
    await intake.client.post(f"{url}/waiting", json={"body": "Which card did you pay with?"}, headers=OWNER)
    await eventually(lambda: receiver.of_type("ticket.waiting"))
    assert receiver.of_type("ticket.waiting")[0].json["data"]["message"]["text"] == "Which card did you pay with?"
    await intake.client.post(f"{url}/messages", json={"body": "Visa"}, headers=channel_headers())
    r = await intake.client.post(f"{url}/resolve", json={"resolution": "Refunded to your Visa"}, headers=OWNER)
    assert r.status_code == 200, r.text
    await eventually(lambda: receiver.of_type("ticket.resolved"))
    resolved = receiver.of_type("ticket.resolved")[0].json["data"]
    assert resolved["message"]["text"] == "Refunded to your Visa"
    assert resolved["confirm_url"].endswith("/confirm") and resolved["reopen_url"].endswith("/reopen")
    assert resolved["link_url"] and resolved["links_expire_at"]

    # Rotation: both secrets verify during the overlap.
    r = await intake.client.post(f"{CHANNEL_HOOKS}/{endpoint['id']}/rotate-secret", headers=channel_headers())
    assert r.status_code == 200, r.text
    new_secret = r.json()["secret"]
    assert new_secret != secret and r.json()["previous_valid_until"] is not None
    r = await intake.client.post(f"{CHANNEL_HOOKS}/{endpoint['id']}/test", headers=channel_headers())
    assert r.status_code == 202, r.text
    await eventually(lambda: receiver.of_type("webhook.test"))
    test = receiver.of_type("webhook.test")[0]
    assert len(test.headers["webhook-signature"].split(" ")) == 2
    Webhook(secret).verify(test.body, test.headers)
    Webhook(new_secret).verify(test.body, test.headers)

    # Every delivery is logged with its attempt; all of it is audited.
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))
    log = await deliveries(intake, endpoint["id"])
    assert {d["status"] for d in log} == {"delivered"}
    r = await intake.client.get(
        f"{CHANNEL_HOOKS}/{endpoint['id']}/deliveries/{log[0]['id']}/attempts", headers=channel_headers()
    )
    assert [a["status_code"] for a in r.json()] == [200] and r.json()[0]["response"] == "thanks"
    r = await intake.client.get(
        "/v1/audit", params={"subject": f"webhook_endpoint:{endpoint['id']}"}, headers=admin_headers()
    )
    actions = {e["action"] for e in r.json()["items"]}
    assert {"webhook.endpoint_created", "webhook.secret_rotated", "webhook.test_sent"} <= actions

    # Another channel does not see the endpoint; an update needs If-Match.
    r = await intake.client.get(f"{ADMIN_HOOKS}/{endpoint['id']}", headers=admin_headers())
    assert r.status_code == 404
    patch_url = f"{CHANNEL_HOOKS}/{endpoint['id']}"
    r = await intake.client.patch(patch_url, json={"description": "crm"}, headers=channel_headers())
    assert r.status_code == 428
    r = await intake.client.patch(
        patch_url, json={"description": "crm"}, headers=channel_headers(**{"If-Match": '"1"'})
    )
    assert r.status_code == 412
    etag = (await intake.client.get(patch_url, headers=channel_headers())).headers["ETag"]
    r = await intake.client.patch(patch_url, json={"description": "crm"}, headers=channel_headers(**{"If-Match": etag}))
    assert r.status_code == 200 and r.json()["description"] == "crm"


async def advance_to_next_attempt(intake: RunningService, clock: FrozenClock, endpoint_id: str) -> datetime:
    """Move the clock to the pending delivery's next attempt; returns that instant."""
    pending = [d for d in await deliveries(intake, endpoint_id) if d["status"] == "pending"]
    assert pending
    due = datetime.fromisoformat(pending[0]["next_attempt_at"])
    clock.set(max(due, clock.now()) + timedelta(seconds=1))
    return due


async def test_failures_are_retried_with_growing_backoff_and_delivered_once(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.script = [500, 503, 502]
    endpoint, _ = await subscribe(intake, receiver.url, ["ticket.replied"])
    ticket = await owned_ticket(intake, platform)
    await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": "hello"}, headers=OWNER)

    delays = []
    for failures in (1, 2, 3):
        await eventually(lambda n=failures: len(receiver.received) == n)  # type: ignore[misc]
        await eventually(lambda n=failures: _attempts_logged(intake, endpoint["id"], n))  # type: ignore[misc]
        before = clock.now()
        due = await advance_to_next_attempt(intake, clock, endpoint["id"])
        delays.append((due - before).total_seconds())
    await eventually(lambda: receiver.of_type("ticket.replied"))
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))

    assert delays == sorted(delays) and delays[0] >= 30, delays
    assert len(receiver.of_type("ticket.replied")) == 1
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1, "every attempt is the same message"
    (delivery,) = await deliveries(intake, endpoint["id"])
    r = await intake.client.get(
        f"{CHANNEL_HOOKS}/{endpoint['id']}/deliveries/{delivery['id']}/attempts", headers=channel_headers()
    )
    assert [a["status_code"] for a in r.json()] == [500, 503, 502, 200]
    assert all(a["latency_ms"] >= 0 for a in r.json())


async def _attempts_logged(intake: RunningService, endpoint_id: str, count: int) -> bool:
    return any(d["attempts"] == count for d in await deliveries(intake, endpoint_id))


async def _status(intake: RunningService, endpoint_id: str, status: str, *, admin: bool = False) -> bool:
    r = await intake.client.get(
        f"{ADMIN_HOOKS if admin else CHANNEL_HOOKS}/{endpoint_id}",
        headers=admin_headers() if admin else channel_headers(),
    )
    if r.json()["status"] == status:
        return True
    found = await deliveries(intake, endpoint_id, admin=admin)
    return bool(found) and all(d["status"] == status for d in found)


async def test_410_disables_and_continuous_failure_disables_with_an_event_and_an_audit_entry(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.status = 410
    gone, _ = await subscribe(intake, receiver.url, ["staff.token_revoked.v1"], admin=True)
    await intake.client.post(f"{ADMIN_HOOKS}/{gone['id']}/test", headers=admin_headers())
    await eventually(lambda: _status(intake, gone["id"], "disabled", admin=True))
    r = await intake.client.get(f"{ADMIN_HOOKS}/{gone['id']}", headers=admin_headers())
    assert r.json()["disabled_reason"] == "gone"

    receiver.status = 503
    failing, _ = await subscribe(
        intake, receiver.url.replace("/hooks", "/other"), ["staff.token_revoked.v1"], admin=True
    )
    await intake.client.post(f"{ADMIN_HOOKS}/{failing['id']}/test", headers=admin_headers())
    await eventually(lambda: _attempts_logged_admin(intake, failing["id"], 1))
    clock.set(clock.now() + timedelta(hours=73))
    await eventually(lambda: _status(intake, failing["id"], "disabled", admin=True))
    r = await intake.client.get(f"{ADMIN_HOOKS}/{failing['id']}", headers=admin_headers())
    assert r.json()["disabled_reason"] == "failing"

    events = await read_events(platform, Topics(platform.topic_prefix).for_family("webhook"), count=2)
    reasons = {(e["data"]["endpoint_id"], e["data"]["reason"]) for e in events}
    assert reasons == {(gone["id"], "gone"), (failing["id"], "failing")}
    r = await intake.client.get("/v1/audit", params={"action": "webhook.endpoint_disabled"}, headers=admin_headers())
    assert {e["subject"] for e in r.json()["items"]} == {
        f"webhook_endpoint:{gone['id']}",
        f"webhook_endpoint:{failing['id']}",
    }


async def _attempts_logged_admin(intake: RunningService, endpoint_id: str, count: int) -> bool:
    return any(d["attempts"] >= count for d in await deliveries(intake, endpoint_id, admin=True))


async def test_one_delivery_and_a_time_range_replay_with_the_same_ids(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver, clock: FrozenClock
) -> None:
    endpoint, _ = await subscribe(intake, receiver.url, ["ticket.replied", "ticket.updated"])
    ticket = await owned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    start = clock.now()
    await intake.client.post(f"{url}/replies", json={"body": "one"}, headers=OWNER)
    await intake.client.post(f"{url}/updates", json={"body": "two"}, headers=OWNER)
    await eventually(lambda: len(receiver.received) == 2)
    first_ids = [r.headers["webhook-id"] for r in receiver.received]

    log = await deliveries(intake, endpoint["id"])
    one = next(d for d in log if d["event_type"] == "ticket.replied")
    r = await intake.client.post(
        f"{CHANNEL_HOOKS}/{endpoint['id']}/deliveries/{one['id']}/replay", headers=channel_headers()
    )
    assert r.status_code == 202, r.text
    await eventually(lambda: len(receiver.received) == 3)
    assert receiver.received[2].headers["webhook-id"] == one["id"]
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))

    r = await intake.client.post(
        f"{CHANNEL_HOOKS}/{endpoint['id']}/replay",
        json={
            "since": (start - timedelta(seconds=1)).isoformat(),
            "until": (clock.now() + timedelta(seconds=1)).isoformat(),
        },
        headers=channel_headers(),
    )
    assert r.status_code == 202 and r.json() == {"replayed": 2}
    await eventually(lambda: len(receiver.received) == 5)
    assert [r.headers["webhook-id"] for r in receiver.received[3:]] == first_ids, "in their original order"

    # The same from the command line, with progress.
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))
    window = ReplayRange(since=start - timedelta(seconds=1), until=clock.now() + timedelta(seconds=1))
    count = await cli.replay(
        intake.runtime.settings, uuid.UUID(endpoint["id"]), delivery_id=None, window=window, actor="ops"
    )
    assert count == 2
    clock.set(datetime.now(UTC) + timedelta(seconds=1))  # the command line runs on the wall clock
    await eventually(lambda: len(receiver.received) == 7)
    assert [r.headers["webhook-id"] for r in receiver.received[5:]] == first_ids


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/x", "http://[::1]/x"]
)
async def test_private_addresses_are_refused_at_subscription_unless_allowed(intake: RunningService, url: str) -> None:
    settings: IntakeSettings = intake.runtime.settings
    settings.webhooks_allow_private = False
    try:
        r = await intake.client.post(
            CHANNEL_HOOKS, json={"url": url, "event_types": ["ticket.replied"]}, headers=channel_headers()
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "address_not_allowed"
        r = await intake.client.post(
            CHANNEL_HOOKS,
            json={"url": "ftp://example.com/x", "event_types": ["ticket.replied"]},
            headers=channel_headers(),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_scheme"
    finally:
        settings.webhooks_allow_private = True


async def test_an_admin_subscription_receives_catalog_events_without_personal_data(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver
) -> None:
    endpoint, secret = await subscribe(intake, receiver.url, ["ticket.created.v1"], admin=True)
    r = await intake.client.post(
        CHANNEL_HOOKS, json={"url": receiver.url, "event_types": ["ticket.created.v1"]}, headers=channel_headers()
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_event_type"
    body = create_ticket_body()
    r = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    ticket = r.json()
    await eventually(lambda: receiver.of_type("ticket.created.v1"), timeout=30)
    got = receiver.of_type("ticket.created.v1")[0]
    envelope = Webhook(secret).verify(got.body, got.headers)["data"]
    assert envelope["type"] == "ticket.created.v1" and envelope["subject"] == ticket["id"]
    raw = got.body.decode()
    for personal in (body["subject"], body["description"], body["customer"]["name"]):
        assert personal not in raw
    assert body["customer"]["contact"] not in raw
    assert len(await deliveries(intake, endpoint["id"], admin=True)) == 1


async def test_per_ticket_order_holds_and_a_receiver_down_then_back_gets_everything_once(
    intake: RunningService, platform: PlatformSettings, receiver: Receiver, clock: FrozenClock
) -> None:
    endpoint, _ = await subscribe(intake, receiver.url, ["ticket.updated"])
    ticket = await owned_ticket(intake, platform)
    receiver.status = 503  # down
    for n in range(5):
        r = await intake.client.post(f"/v1/tickets/{ticket['id']}/updates", json={"body": f"update {n}"}, headers=OWNER)
        assert r.status_code == 201, r.text
    await eventually(lambda: len(receiver.received) >= 1)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 1, "one in flight per endpoint and ticket: the others wait behind it"

    receiver.status = 200  # back
    for _ in range(5):
        clock.set(clock.now() + timedelta(hours=2))
        if await _status(intake, endpoint["id"], "delivered"):
            break
        await asyncio.sleep(0.3)
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))
    ok = receiver.of_type("ticket.updated")
    assert [r.json["data"]["message"]["text"] for r in ok] == [f"update {n}" for n in range(5)]
    assert len({r.headers["webhook-id"] for r in ok}) == 5
    assert uuid.UUID(ok[0].headers["webhook-id"])


@pytest.fixture
async def slow_polling_intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    """An intake whose worker polls once a minute: whatever is sent sooner was woken."""
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        webhooks_allow_private=True,
        webhooks_poll_seconds=60,
    )
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def test_a_delivery_written_by_this_process_is_sent_at_once_not_at_the_next_poll(
    slow_polling_intake: RunningService, platform: PlatformSettings, clock: FrozenClock, receiver: Receiver
) -> None:
    intake = slow_polling_intake
    await subscribe(intake, receiver.url, ["ticket.replied"])
    await subscribe(intake, receiver.url, ["ticket.assigned.v1"], admin=True)
    ticket = await owned_ticket(intake, platform)
    started = asyncio.get_running_loop().time()
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": "On it"}, headers=OWNER)
    assert r.status_code == 201, r.text
    await eventually(lambda: receiver.of_type("ticket.replied"), timeout=10)
    await eventually(lambda: receiver.of_type("ticket.assigned.v1"), timeout=10)
    took = asyncio.get_running_loop().time() - started
    assert took < 10, f"woken by the commits, not by the 60 s poll (took {took:.1f}s)"


async def test_a_replay_from_the_command_line_wakes_the_running_worker_not_its_poll(
    slow_polling_intake: RunningService, platform: PlatformSettings, clock: FrozenClock, receiver: Receiver
) -> None:
    intake = slow_polling_intake
    endpoint, _ = await subscribe(intake, receiver.url, ["ticket.replied"])
    ticket = await owned_ticket(intake, platform)
    start = clock.now()
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": "On it"}, headers=OWNER)
    assert r.status_code == 201, r.text
    await eventually(lambda: len(receiver.received) == 1, timeout=10)
    await eventually(lambda: _status(intake, endpoint["id"], "delivered"))

    window = ReplayRange(since=start - timedelta(seconds=1), until=clock.now() + timedelta(seconds=1))
    clock.set(datetime.now(UTC) + timedelta(seconds=1))  # the command line runs on the wall clock
    started = asyncio.get_running_loop().time()
    # Another process's transaction (its own engine and state): only the notice can wake
    # this intake's worker before its 60 s poll.
    assert (
        await cli.replay(
            intake.runtime.settings, uuid.UUID(endpoint["id"]), delivery_id=None, window=window, actor="ops"
        )
        == 1
    )
    await eventually(lambda: len(receiver.received) == 2, timeout=20)
    took = asyncio.get_running_loop().time() - started
    assert receiver.received[1].headers["webhook-id"] == receiver.received[0].headers["webhook-id"]
    assert took < 10, f"woken by the notice, not by the 60 s poll (took {took:.1f}s)"
