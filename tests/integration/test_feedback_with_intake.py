"""feedback and intake together on a real PostgreSQL and broker, sharing one injected clock: the
events intake really emits time the survey, withdraw it on a reopen, and a low score comes back
to intake as a recovery ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    assign_in_intake,
    channel_headers,
    create_ticket_body,
    eventually,
    serve,
)
from ticketloop_feedback.app import create_app as create_feedback
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings

OWNER = agent_headers("agent-test", department="after_sales")
NOTIFIER = agent_headers("mailer", Role.NOTIFIER)
NewDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def services(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> AsyncIterator[tuple[RunningService, RunningService]]:
    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    feedback_settings = FeedbackSettings(
        database_url=await new_database("feedback"), platform=platform, survey_timer_max_idle_seconds=0.05
    )
    async with (
        serve(create_intake(intake_settings, clock=clock)) as intake,
        serve(create_feedback(feedback_settings, clock=clock)) as feedback,
    ):
        yield intake, feedback


async def resolved_ticket(intake: RunningService, platform: PlatformSettings, customer_id: str) -> dict[str, Any]:
    """A ticket reported on the web by a customer who wants to be called, owned and resolved."""
    customer = {"id": customer_id, "name": "Jane Doe", "contact": "jane@example.com", "preferred_channel": "phone"}
    body = create_ticket_body(customer=customer, category="logistics_delay")
    r = await intake.client.post("/v1/tickets", json=body, headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    await assign_in_intake(intake, platform, ticket)
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "Found"}, headers=OWNER)
    assert r.status_code == 200, r.text
    return ticket


async def survey_when(feedback: RunningService, ticket_id: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await feedback.client.get(f"/v1/tickets/{ticket_id}/survey", headers=admin_headers())
        return r.json() if r.status_code == 200 and r.json()["status"] == status else None

    found: dict[str, Any] = await eventually(probe)
    return found


@pytest.mark.slow
async def test_a_low_score_on_a_survey_opens_a_recovery_ticket_in_intake(
    services: tuple[RunningService, RunningService], platform: PlatformSettings, clock: FrozenClock
) -> None:
    intake, feedback = services
    original = await resolved_ticket(intake, platform, "cust-disappointed")
    scheduled = await survey_when(feedback, original["id"], "scheduled")
    assert datetime.fromisoformat(scheduled["due_at"]) - clock.now() <= timedelta(hours=2)

    clock.set(clock.now() + timedelta(hours=2))
    survey = await survey_when(feedback, original["id"], "open")
    assert survey["channel"] == "phone"  # the customer's preferred channel, from intake
    deliveries = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"]
    [link] = [d["link"] for d in deliveries if d["survey_id"] == survey["id"]]
    r = await feedback.client.post(urlsplit(link).path, json={"csat": 1, "comment": "Still no parcel"})
    assert r.status_code == 201, r.text

    async def recovery() -> list[dict[str, Any]] | None:
        r = await intake.client.get(
            "/v1/tickets",
            params={"customer_id": "cust-disappointed", "channel": "proactive"},
            headers=admin_headers(),
        )
        items: list[dict[str, Any]] = r.json()["items"]
        return items or None

    [found] = await eventually(recovery)
    opened = (await intake.client.get(f"/v1/tickets/{found['id']}", headers=admin_headers())).json()
    assert (opened["origin"], opened["origin_id"], opened["linked_ticket_id"]) == (
        "recovery",
        survey["id"],
        original["id"],
    )
    assert (opened["urgency"], opened["category"]) == ("urgent", "logistics_delay")
    assert opened["customer"]["preferred_channel"] == "phone"


@pytest.mark.slow
async def test_a_customer_reopening_the_ticket_withdraws_its_survey_and_the_next_resolution_brings_a_new_one(
    services: tuple[RunningService, RunningService], platform: PlatformSettings, clock: FrozenClock
) -> None:
    intake, feedback = services
    ticket = await resolved_ticket(intake, platform, "cust-reopener")
    first = await survey_when(feedback, ticket["id"], "scheduled")

    clock.set(clock.now() + timedelta(hours=1))
    r = await intake.client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"body": "Still broken"}, headers=channel_headers()
    )
    assert r.json()["status"] == "reopened", r.text
    withdrawn = await survey_when(feedback, ticket["id"], "cancelled")
    assert (withdrawn["id"], withdrawn["cancel_reason"]) == (first["id"], "reopened")

    clock.set(clock.now() + timedelta(minutes=30))
    await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": "On it"}, headers=OWNER)
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"resolution": "Now"}, headers=OWNER)
    assert r.status_code == 200, r.text
    second = await survey_when(feedback, ticket["id"], "scheduled")
    assert second["id"] != first["id"]
    clock.set(clock.now() + timedelta(hours=2))
    await survey_when(feedback, ticket["id"], "open")
