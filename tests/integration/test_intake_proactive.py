"""Tickets the loop opens itself, over real HTTP on a real PostgreSQL and broker: a low survey
score opens one urgent recovery ticket linked to the surveyed ticket, a due care task one care
ticket; each is announced like any ticket and opened once whatever is redelivered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.builders import Story
from tests.support import (
    RunningService,
    admin_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


async def reported(intake: RunningService, customer_id: str) -> dict[str, Any]:
    """A ticket the customer reported on the web, wanting to be called back on the phone."""
    customer = {"id": customer_id, "name": "Jane Doe", "contact": "jane@example.com", "preferred_channel": "phone"}
    r = await intake.client.post(
        "/v1/tickets", json=create_ticket_body(customer=customer, category="logistics_delay"), headers=channel_headers()
    )
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    return ticket


def story_of(ticket: dict[str, Any]) -> Story:
    return Story(
        ticket_id=uuid.UUID(ticket["id"]),
        customer_id=ticket["customer"]["id"],
        number=ticket["number"],
        category=ticket["category"],
    )


async def proactive_tickets(intake: RunningService, customer_id: str, *, count: int) -> list[dict[str, Any]]:
    """The customer's tickets on channel `proactive`, read in full once there are `count`."""

    async def probe() -> list[dict[str, Any]] | None:
        r = await intake.client.get(
            "/v1/tickets", params={"customer_id": customer_id, "channel": "proactive"}, headers=admin_headers()
        )
        items = r.json()["items"]
        return items if len(items) >= count else None

    found = await eventually(probe)
    return [(await intake.client.get(f"/v1/tickets/{t['id']}", headers=admin_headers())).json() for t in found]


async def created_events(platform: PlatformSettings, ticket_id: str) -> list[dict[str, Any]]:
    topic = Topics(platform.topic_prefix).for_family("ticket")
    return [
        e
        for e in await read_events(platform, topic, count=100_000, timeout=1)
        if e["type"] == "ticket.created.v1" and e["subject"] == ticket_id
    ]


async def test_a_low_score_opens_one_urgent_recovery_ticket_linked_to_the_surveyed_one(
    intake: RunningService, platform: PlatformSettings
) -> None:
    original = await reported(intake, "cust-unhappy")
    story = story_of(original)
    low = story.low_score(datetime.now(UTC), csat=1)
    await publish(platform, low)
    [recovery] = await proactive_tickets(intake, "cust-unhappy", count=1)

    assert (recovery["channel"], recovery["urgency"], recovery["category"]) == (
        "proactive",
        "urgent",
        "logistics_delay",
    )
    assert (recovery["origin"], recovery["origin_id"]) == ("recovery", str(low.data.survey_id))
    assert recovery["linked_ticket_id"] == original["id"]
    assert original["number"] in recovery["subject"]
    # The customer's sealed name and channel come across from the surveyed ticket.
    assert recovery["customer"]["name"] == "Jane Doe"
    assert recovery["customer"]["preferred_channel"] == "phone"
    assert recovery["status"] == "pending_assignment"

    [announced] = await eventually(lambda: created_events(platform, recovery["id"]))
    data = announced["data"]
    assert (data["origin"], data["linked_ticket_id"], data["urgency"]) == ("recovery", original["id"], "urgent")
    assert data["customer_preferred_channel"] == "phone"

    # The same low score announced again (a replayed outbox row has a new event id too), then a
    # second survey's low score behind it on the same partition: two recovery tickets, not three.
    replay = low.model_copy(update={"id": uuid.uuid4()})
    second = story.low_score(datetime.now(UTC), csat=2)
    await publish(platform, replay, second)
    tickets = await proactive_tickets(intake, "cust-unhappy", count=2)
    assert sorted(t["origin_id"] for t in tickets) == sorted([str(low.data.survey_id), str(second.data.survey_id)])


async def test_a_due_care_task_opens_one_care_ticket_on_the_customers_channel(
    intake: RunningService, platform: PlatformSettings
) -> None:
    original = await reported(intake, "cust-cared")
    task = story_of(original).care_task_due(datetime.now(UTC), segment="churn_risk")
    await publish(platform, task, task.model_copy(update={"id": uuid.uuid4()}))
    [care] = await proactive_tickets(intake, "cust-cared", count=1)
    assert (care["origin"], care["origin_id"], care["linked_ticket_id"]) == ("care", str(task.data.task_id), None)
    assert (care["urgency"], care["category"], care["need"]) == ("normal", "service_attitude", "information")
    assert "churn_risk" in care["subject"]
    # Only one, however often the task was announced.
    await publish(platform, task.model_copy(update={"id": uuid.uuid4()}))
    r = await intake.client.get(
        "/v1/tickets", params={"customer_id": "cust-cared", "channel": "proactive"}, headers=admin_headers()
    )
    assert r.json()["total"] == 1


async def test_a_care_ticket_is_a_task_completed_with_an_outcome(
    intake: RunningService, platform: PlatformSettings
) -> None:
    """Issue 22: a care contact is a task with a due date and an outcome (reached, no answer,
    declined, follow-up needed): the outcome is required to complete it, refused on a customer's
    problem, and travels on `ticket.resolved`."""
    original = await reported(intake, "cust-task")
    due = datetime.now(UTC).replace(microsecond=0)
    task = story_of(original).care_task_due(due, segment="new")
    await publish(platform, task)
    [care] = await proactive_tickets(intake, "cust-task", count=1)
    assert datetime.fromisoformat(care["due_at"]) == due
    assert care["sla"] is None  # no clocks: its due date is what counts
    [created] = await created_events(platform, care["id"])
    assert datetime.fromisoformat(created["data"]["due_at"]) == due
    listed = await intake.client.get("/v1/tickets", params={"origin": "care"}, headers=admin_headers())
    assert [(t["id"], t["origin"]) for t in listed.json()["items"]] == [(care["id"], "care")]

    path = f"/v1/tickets/{care['id']}/resolve"
    r = await intake.client.post(path, json={"resolution": "Called, nobody picked up"}, headers=admin_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (422, "care_outcome_required")
    r = await intake.client.post(
        f"/v1/tickets/{original['id']}/resolve",
        json={"resolution": "Refunded", "outcome": "reached"},
        headers=admin_headers(),
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "care_outcome_not_applicable")
    r = await intake.client.post(
        path, json={"resolution": "Called, nobody picked up", "outcome": "no_answer"}, headers=admin_headers()
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["outcome"]) == ("resolved", "no_answer")

    async def resolved() -> list[dict[str, Any]] | None:
        topic = Topics(platform.topic_prefix).for_family("ticket")
        found = [
            e
            for e in await read_events(platform, topic, count=100_000, timeout=1)
            if e["type"] == "ticket.resolved.v1" and e["subject"] == care["id"]
        ]
        return found or None

    [event] = await eventually(resolved)
    assert (event["data"]["origin"], event["data"]["outcome"]) == ("care", "no_answer")
