"""intake over real HTTP, on a real PostgreSQL and broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

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
from ticketloop_intake.handlers import on_tickets_assigned
from ticketloop_intake.idempotency.models import IdempotencyRecord
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets.models import Ticket
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


async def count_tickets(intake: RunningService) -> int:
    async with intake.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_post_ticket_reads_back_number_and_masked_contact_and_the_deadlines_that_apply(
    intake: RunningService,
) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(channel="phone"), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["status"] == "pending_assignment"
    assert ticket["number"].startswith("T") and len(ticket["number"]) == 15
    assert ticket["customer"]["contact_masked"] == "j***@example.com"
    # Issue 20: the 201 carries the deadlines that apply, computed at acceptance with sla's rules
    # (none published yet here: SPEC's defaults, sla's fallback policy) as version 0; sla's own
    # publication (`sla.clocks_changed`, version 1 on) replaces them.
    created = datetime.fromisoformat(ticket["created_at"])
    assert {k: datetime.fromisoformat(v) for k, v in ticket["deadlines"].items()} == {
        "acknowledgement_due": created + timedelta(minutes=10),
        "first_response_due": created + timedelta(minutes=15),
        "resolution_due": created + timedelta(days=1),
    }
    assert (ticket["sla"]["policy_id"], ticket["sla"]["version"]) == ("fallback", 0)


async def test_created_ticket_is_readable_right_after_the_response(intake: RunningService) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
    got = await intake.client.get(f"/v1/tickets/{r.json()['id']}", headers=admin_headers())
    assert got.status_code == 200
    assert got.json()["timeline"][0]["kind"] == "created"
    # Until routing gives it a department, no agent's department holds it.
    got = await intake.client.get(f"/v1/tickets/{r.json()['id']}", headers=agent_headers())
    assert (got.status_code, got.json()["error"]["code"]) == (403, "ticket_not_routed")


async def test_ticket_created_event_is_published_without_personal_data(
    intake: RunningService, platform: PlatformSettings
) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
    [event] = await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=1)
    assert event["type"] == "ticket.created.v1"
    assert event["subject"] == r.json()["id"]
    assert event["data"]["number"] == r.json()["number"]
    assert event["correlation_id"] == r.json()["id"]  # the ticket id traces it through every service
    text = str(event)
    assert "jane@example.com" not in text and "Jane Doe" not in text


async def test_retry_with_same_idempotency_key_returns_the_same_ticket(intake: RunningService) -> None:
    body = create_ticket_body()
    headers = channel_headers(**{"Idempotency-Key": "retry-1"})
    first = await intake.client.post("/v1/tickets", json=body, headers=headers)
    second = await intake.client.post("/v1/tickets", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count_tickets(intake) == 1


async def test_concurrent_retries_with_one_key_create_one_ticket(intake: RunningService) -> None:
    body = create_ticket_body()
    headers = channel_headers(**{"Idempotency-Key": "burst-1"})
    responses = await asyncio.gather(
        *(intake.client.post("/v1/tickets", json=body, headers=headers) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_tickets(intake) == 1


async def test_a_key_older_than_its_ttl_creates_a_new_ticket_and_then_replays_that_one(
    intake: RunningService,
) -> None:
    body = create_ticket_body(new_ticket=True)  # the same report again would otherwise be a repeat contact
    headers = channel_headers(**{"Idempotency-Key": "aged-1"})
    first = await intake.client.post("/v1/tickets", json=body, headers=headers)
    async with intake.runtime.sessions() as session, session.begin():
        record = await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "aged-1"))
        assert record is not None and record.resource_id == uuid.UUID(first.json()["id"]) and record.status_code == 201
        record.created_at -= timedelta(hours=IntakeSettings().idempotency_ttl_hours + 1)
    second = await intake.client.post("/v1/tickets", json=body, headers=headers)
    third = await intake.client.post("/v1/tickets", json=body, headers=headers)
    assert second.status_code == third.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    assert third.json()["id"] == second.json()["id"] and third.headers["Idempotent-Replayed"] == "true"
    assert await count_tickets(intake) == 2


async def test_idempotency_key_reused_for_another_request_is_refused(intake: RunningService) -> None:
    headers = channel_headers(**{"Idempotency-Key": "k-2"})
    await intake.client.post("/v1/tickets", json=create_ticket_body(subject="one"), headers=headers)
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(subject="two"), headers=headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await count_tickets(intake) == 1


@pytest.mark.parametrize(
    ("change", "code", "loc"),
    [
        ({"channel": "fax"}, "enum", ["body", "channel"]),
        ({"urgency": 3}, "enum", ["body", "urgency"]),
        ({"subject": ""}, "string_too_short", ["body", "subject"]),
        ({"colour": "red"}, "extra_forbidden", ["body", "colour"]),
        ({"customer": {"name": "no id"}}, "missing", ["body", "customer", "id"]),
        ({"expected_resolution_at": "2026-01-01T10:00:00"}, "timezone_aware", ["body", "expected_resolution_at"]),
    ],
)
async def test_bad_fields_get_a_precise_422_and_write_nothing(
    intake: RunningService, change: dict[str, object], code: str, loc: list[object]
) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(**change), headers=channel_headers())
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert {"loc": loc, "type": code} in [{"loc": d["loc"], "type": d["type"]} for d in error["details"]]
    assert await count_tickets(intake) == 0


async def test_oversized_body_gets_413(intake: RunningService) -> None:
    r = await intake.client.post(
        "/v1/tickets",
        content=b"{" + b" " * 2_000_000 + b"}",
        headers={**channel_headers(), "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


async def test_credentials_are_checked(intake: RunningService) -> None:
    body = create_ticket_body()
    assert (await intake.client.post("/v1/tickets", json=body)).json()["error"]["code"] == "missing_credentials"
    r = await intake.client.post("/v1/tickets", json=body, headers={"X-Api-Key": "wrong"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")
    r = await intake.client.get("/v1/tickets", headers={"Authorization": "Bearer tl1.forged.sig"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_token")


async def test_reply_then_resolve_walks_the_lifecycle(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = (await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())).json()
    await assign_in_intake(intake, platform, ticket)
    url = f"/v1/tickets/{ticket['id']}"
    r = await intake.client.post(f"{url}/replies", json={"body": "Looking into it"}, headers=agent_headers())
    assert (r.status_code, r.json()["status"]) == (201, "in_progress")
    assert r.json()["first_response_at"] is not None
    r = await intake.client.post(f"{url}/resolve", json={"resolution": "Refunded"}, headers=agent_headers())
    assert (r.status_code, r.json()["status"]) == (200, "resolved")
    r = await intake.client.post(f"{url}/resolve", json={"resolution": "again"}, headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ticket_resolved")
    kinds = [e["kind"] for e in (await intake.client.get(url, headers=agent_headers())).json()["timeline"]]
    assert kinds == ["created", "assigned", "reply", "resolved"]


async def test_unknown_ticket_is_404(intake: RunningService) -> None:
    r = await intake.client.post(
        "/v1/tickets/01a2097d-7752-7fc7-9a56-041da0bf56f3/replies", json={"body": "x"}, headers=agent_headers()
    )
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ticket_not_found")
    r = await intake.client.get("/v1/tickets/not-a-uuid", headers=agent_headers())
    assert r.status_code == 422


async def test_list_filters_and_paginates(intake: RunningService) -> None:
    for category in ("billing", "billing", "account"):
        await intake.client.post("/v1/tickets", json=create_ticket_body(category=category), headers=channel_headers())
    page = (await intake.client.get("/v1/tickets?category=billing&limit=1", headers=admin_headers())).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert page["items"][0]["category"] == "billing"


async def test_unknown_routes_and_methods_use_the_one_error_shape(intake: RunningService) -> None:
    r = await intake.client.get("/v1/nothing-here")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "route_not_found")
    r = await intake.client.delete("/v1/tickets", headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (405, "method_not_allowed")


async def test_an_assignment_shows_its_owner_once_and_a_late_older_one_changes_nothing(
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
    t0 = story.created_at
    newer = story.assigned(t0 + timedelta(seconds=30), agent="agent-new")
    older = story.assigned(t0 + timedelta(seconds=10), agent="agent-old")
    unknown = Story().assigned(t0, agent="agent-x")  # a ticket intake never had: parked, not retried
    await publish(platform, newer, newer, older, unknown)
    consumer = intake.runtime.consumer
    assert consumer is not None
    await eventually(lambda: consumer.handled == 2 and consumer.parked == 1)

    shown = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())).json()
    assert shown["status"] == "in_progress"
    assert shown["assignee"]["agent_id"] == "agent-new"
    assert [e["kind"] for e in shown["timeline"]].count("assigned") == 1


async def test_a_run_of_assignments_applies_in_one_call_in_order_per_ticket(intake: RunningService) -> None:
    """The batch handler: several tickets, one of them assigned twice (later one wins, both
    entries kept), all in one call on the real database."""
    stories = []
    for _ in range(3):
        ticket = (await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())).json()
        stories.append(
            Story(
                created_at=datetime.fromisoformat(ticket["created_at"]),
                ticket_id=uuid.UUID(ticket["id"]),
                number=ticket["number"],
                customer_id=ticket["customer"]["id"],
            )
        )
    t0 = stories[0].created_at
    run = [
        stories[0].assigned(t0 + timedelta(seconds=1), agent="agent-a"),
        stories[1].assigned(t0 + timedelta(seconds=1), agent="agent-b"),
        stories[0].assigned(t0 + timedelta(seconds=5), agent="agent-c"),
        stories[2].assigned(t0 + timedelta(seconds=1), agent="agent-d"),
    ]
    async with intake.runtime.unit_of_work() as uow:
        await on_tickets_assigned(uow, run)

    async def owner(story: Story) -> tuple[str, int]:
        shown = (await intake.client.get(f"/v1/tickets/{story.ticket_id}", headers=admin_headers())).json()
        assert shown["status"] == "in_progress"
        return shown["assignee"]["agent_id"], [e["kind"] for e in shown["timeline"]].count("assigned")

    assert await owner(stories[0]) == ("agent-c", 2)
    assert await owner(stories[1]) == ("agent-b", 1)
    assert await owner(stories[2]) == ("agent-d", 1)


async def test_a_run_with_an_unknown_ticket_fails_whole_so_the_consumer_can_isolate_it(
    intake: RunningService,
) -> None:
    ticket = (await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())).json()
    known = Story(created_at=datetime.fromisoformat(ticket["created_at"]), ticket_id=uuid.UUID(ticket["id"]))
    unknown = Story().assigned(known.created_at, agent="agent-x")
    with pytest.raises(PermanentEventError):
        async with intake.runtime.unit_of_work() as uow:
            await on_tickets_assigned(uow, [known.assigned(known.created_at, agent="agent-a"), unknown])
    shown = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())).json()
    assert shown["assignee"] is None  # rolled back with the run
