"""feedback over real HTTP, on a real PostgreSQL and broker: one survey per resolved ticket,
reached without login, answered once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from tests.builders import T0, create_ticket_created, create_ticket_resolved
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    eventually,
    publish,
    read_events,
    read_topic,
    serve,
)
from ticketloop_feedback.app import create_app
from ticketloop_feedback.db import messaging
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys.models import Survey
from ticketloop_shared.auth import Role
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import EventType, TicketResolved, Topics
from ticketloop_shared.settings import PlatformSettings

PUBLIC_URL = "https://surveys.example.test"
NOW = T0 + timedelta(hours=2)
GOOD_ANSWER: dict[str, Any] = {"csat": 4, "nps": 9, "comment": "Quick and kind, thank you"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def feedback(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = FeedbackSettings(
        database_url=await new_database("feedback"), platform=platform, public_base_url=PUBLIC_URL
    )
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


def feedback_topic(platform: PlatformSettings) -> str:
    return Topics(platform.topic_prefix).for_family("feedback")


async def staff_survey(feedback: RunningService, ticket_id: uuid.UUID) -> dict[str, Any] | None:
    r = await feedback.client.get(f"/v1/tickets/{ticket_id}/survey", headers=agent_headers())
    return r.json() if r.status_code == 200 else None


NOTIFIER = agent_headers("mailer", Role.NOTIFIER)
# Everything staff may know about a survey; nothing in it opens the survey.
STAFF_FIELDS = {
    "id",
    "ticket_id",
    "ticket_number",
    "customer_id",
    "status",
    "created_at",
    "delivered_at",
    "expires_at",
    "answer",
}


async def link_for(feedback: RunningService, survey_id: str) -> str:
    """The survey's link as the delivery system gets it (the only place a link is handed out)."""
    page = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()
    [link] = [item["link"] for item in page["items"] if item["survey_id"] == survey_id]
    return str(link)


async def create_survey(feedback: RunningService, platform: PlatformSettings) -> tuple[TicketResolved, dict[str, Any]]:
    """A resolved ticket's survey, made the real way: `ticket.resolved` over the broker; with
    the link the customer was sent."""
    resolved = create_ticket_resolved(create_ticket_created())
    await publish(platform, resolved)
    survey: dict[str, Any] = await eventually(lambda: staff_survey(feedback, resolved.data.ticket_id))
    return resolved, {**survey, "link": await link_for(feedback, survey["id"])}


def link_path(link: str) -> str:
    """The survey link's path, served by the test instance (the link's host is the public one)."""
    assert link.startswith(f"{PUBLIC_URL}/v1/surveys/"), link
    return urlsplit(link).path


async def answer(feedback: RunningService, path: str, body: Any) -> httpx.Response:
    return await feedback.client.post(path, json=body)


async def count_surveys(feedback: RunningService) -> int:
    async with feedback.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Survey)) or 0)


async def outbox_types(feedback: RunningService) -> list[str]:
    """Every event feedback staged, in order: events leave only through this table."""
    table = messaging.outbox
    async with feedback.runtime.sessions() as session:
        return list((await session.scalars(select(table.c.event_type).order_by(table.c.seq))).all())


async def handled(feedback: RunningService, event_id: uuid.UUID) -> bool:
    table = messaging.inbox
    async with feedback.runtime.sessions() as session:
        return await session.scalar(select(table.c.event_id).where(table.c.event_id == event_id)) is not None


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_resolved_ticket_gets_one_survey_however_often_its_resolution_arrives(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created()
    resolved = create_ticket_resolved(created)
    resolved_again = create_ticket_resolved(created, after=timedelta(hours=3))  # a new event for the same ticket
    # One subject, so one partition: these are consumed in this order, and once the last one
    # is in the inbox the redelivery before it has been handled too.
    await publish(platform, resolved, resolved, resolved_again)
    await eventually(lambda: handled(feedback, resolved_again.id))

    assert await count_surveys(feedback) == 1
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    [sent] = await read_events(platform, feedback_topic(platform), count=1)
    assert sent["type"] == "feedback.survey_sent.v2"
    assert (sent["source"], sent["subject"]) == ("feedback", str(created.data.ticket_id))
    assert sent["causation_id"] == str(resolved.id)
    assert sent["correlation_id"] == str(created.data.ticket_id)  # the ticket's conversation
    assert sent["data"]["ticket_id"] == str(created.data.ticket_id)
    assert sent["data"]["customer_id"] == created.data.customer_id
    assert at(sent["data"]["expires_at"]) == NOW + timedelta(days=14)

    # no link, no token; the channel to deliver on is the customer's preferred one (none here)
    sent_fields = {"survey_id", "ticket_id", "customer_id", "expires_at", "kind", "template_id", "channel", "sent_at"}
    assert set(sent["data"]) == sent_fields
    assert (sent["data"]["kind"], sent["data"]["channel"]) == ("ticket", None)
    link = await link_for(feedback, sent["data"]["survey_id"])
    assert link.rsplit("/", 1)[-1] not in json.dumps(sent)
    r = await feedback.client.get(link_path(link))  # the link works, with no credentials
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["ticket_number"]) == ("open", created.data.number)


async def test_the_link_needs_no_login_and_takes_exactly_one_answer(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    resolved, survey = await create_survey(feedback, platform)
    path = link_path(survey["link"])

    r = await feedback.client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    shown = r.json()
    assert (shown["status"], shown["ticket_number"]) == ("open", resolved.data.number)
    assert at(shown["expires_at"]) == NOW + timedelta(days=14)
    questions = [(q["id"], q["kind"], q["required"], q["min"], q["max"]) for q in shown["questions"]]
    assert questions == [
        ("csat", "scale", True, 1, 5),
        ("nps", "scale", True, 0, 10),
        ("comment", "text", False, None, None),
    ]

    r = await answer(feedback, path, GOOD_ANSWER)
    assert r.status_code == 201, r.text
    assert r.json() == {**GOOD_ANSWER, "answered_at": r.json()["answered_at"]}
    assert at(r.json()["answered_at"]) == NOW

    events = await read_events(platform, feedback_topic(platform), count=2)
    [received] = [e for e in events if e["type"] == "feedback.received.v1"]
    assert received["subject"] == str(resolved.data.ticket_id)
    assert received["data"] == {
        "survey_id": survey["id"],
        "ticket_id": str(resolved.data.ticket_id),
        "customer_id": resolved.data.customer_id,
        "csat": 4,
        "nps": 9,
        "has_comment": True,
        "answered_at": received["data"]["answered_at"],
    }
    assert GOOD_ANSWER["comment"] not in json.dumps(received)  # the text stays in feedback's store

    again = await answer(feedback, path, {"csat": 1, "nps": 0})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "survey_already_answered")
    assert (await feedback.client.get(path)).json()["status"] == "answered"
    after = await staff_survey(feedback, resolved.data.ticket_id)
    assert after is not None and after["answer"] == r.json()
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2, EventType.FEEDBACK_RECEIVED]


async def test_answers_racing_each_other_record_exactly_one(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    resolved, survey = await create_survey(feedback, platform)
    path = link_path(survey["link"])

    responses = await asyncio.gather(*(answer(feedback, path, {"csat": c, "nps": c}) for c in range(1, 6)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    [winner] = [r.json() for r in responses if r.status_code == 201]
    recorded = await staff_survey(feedback, resolved.data.ticket_id)
    assert recorded is not None and recorded["answer"] == winner
    assert (await outbox_types(feedback)).count(EventType.FEEDBACK_RECEIVED) == 1


async def test_bad_answers_get_a_precise_422_and_record_nothing(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    resolved, survey = await create_survey(feedback, platform)
    path = link_path(survey["link"])
    cases: list[tuple[dict[str, Any], str, list[str]]] = [
        ({"csat": 0, "nps": 5}, "greater_than_equal", ["body", "csat"]),
        ({"csat": 6, "nps": 5}, "less_than_equal", ["body", "csat"]),
        ({"csat": 3, "nps": -1}, "greater_than_equal", ["body", "nps"]),
        ({"csat": 3, "nps": 11}, "less_than_equal", ["body", "nps"]),
        ({"csat": "5", "nps": 5}, "int_type", ["body", "csat"]),
        ({"csat": 4.5, "nps": 5}, "int_type", ["body", "csat"]),
        ({"csat": True, "nps": 5}, "int_type", ["body", "csat"]),
        ({"nps": 5}, "missing", ["body", "csat"]),
        ({"csat": 3, "nps": 5, "rating": 5}, "extra_forbidden", ["body", "rating"]),
        ({"csat": 3, "nps": 5, "comment": "x" * 2001}, "string_too_long", ["body", "comment"]),
        ({"csat": 3, "nps": 5, "comment": 42}, "string_type", ["body", "comment"]),
        ({"csat": 3, "nps": 5, "comment": "nul\x00byte"}, "nul_byte", ["body", "comment"]),
    ]
    for body, code, loc in cases:
        r = await answer(feedback, path, body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert {"loc": loc, "type": code} in [{"loc": d["loc"], "type": d["type"]} for d in error["details"]], body

    assert (await feedback.client.get(path)).json()["status"] == "open"
    recorded = await staff_survey(feedback, resolved.data.ticket_id)
    assert recorded is not None and recorded["answer"] is None
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    # still answerable after all that, and a 2000-character comment is fine
    r = await answer(feedback, path, {"csat": 5, "nps": 10, "comment": "y" * 2000})
    assert r.status_code == 201, r.text


async def test_a_link_that_is_not_a_survey_is_404(feedback: RunningService) -> None:
    tokens = ["A" * 32, "short", "x" * 300, "ünïcødé and spaces, not a token"]
    for token in tokens:
        for r in (
            await feedback.client.get(f"/v1/surveys/{token}"),
            await answer(feedback, f"/v1/surveys/{token}", GOOD_ANSWER),
        ):
            assert (r.status_code, r.json()["error"]["code"]) == (404, "survey_not_found"), (token, r.text)
    nul = "/v1/surveys/not%00a%00token"  # no text with NUL bytes gets near the database
    for r in (await feedback.client.get(nul), await answer(feedback, nul, GOOD_ANSWER)):
        assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), r.text


async def test_an_unanswered_survey_closes_at_its_expiry_with_410(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await create_survey(feedback, platform)
    path = link_path(survey["link"])
    expires_at = at(survey["expires_at"])

    clock.set(expires_at - timedelta(seconds=1))
    assert (await feedback.client.get(path)).json()["status"] == "open"

    clock.set(expires_at)
    assert (await feedback.client.get(path)).json()["status"] == "expired"
    r = await answer(feedback, path, GOOD_ANSWER)
    assert (r.status_code, r.json()["error"]["code"]) == (410, "survey_expired")
    recorded = await staff_survey(feedback, resolved.data.ticket_id)
    assert recorded is not None and (recorded["status"], recorded["answer"]) == ("expired", None)
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2]


async def test_staff_read_a_tickets_survey_but_never_its_link(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    resolved, sent = await create_survey(feedback, platform)
    token = sent["link"].rsplit("/", 1)[-1]
    url = f"/v1/tickets/{resolved.data.ticket_id}/survey"

    r = await feedback.client.get(url)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "missing_credentials")
    r = await feedback.client.get(url, headers={"Authorization": "Bearer tl1.forged.sig"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_token")

    r = await feedback.client.get(url, headers=agent_headers())
    assert r.status_code == 200, r.text
    survey = r.json()
    assert survey["ticket_id"] == str(resolved.data.ticket_id)
    assert (survey["ticket_number"], survey["customer_id"]) == (resolved.data.number, resolved.data.customer_id)
    assert (survey["status"], survey["answer"]) == ("open", None)
    assert at(survey["created_at"]) == NOW
    assert set(survey) == STAFF_FIELDS and token not in r.text
    r = await feedback.client.get(url, headers=admin_headers())
    assert set(r.json()) == STAFF_FIELDS and token not in r.text
    # a notifier is not staff, and staff cannot fetch links nor touch their delivery
    r = await feedback.client.get(url, headers=NOTIFIER)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_required")
    delivered = f"/v1/survey-deliveries/{survey['id']}/delivered"
    for staff in (agent_headers(), admin_headers()):
        r = await feedback.client.get("/v1/survey-deliveries", headers=staff)
        assert r.status_code == 403 and token not in r.text
        assert (await feedback.client.post(delivered, headers=staff)).status_code == 403
    assert (await feedback.client.get("/v1/survey-deliveries")).status_code == 401

    r = await feedback.client.get(f"/v1/tickets/{uuid.uuid4()}/survey", headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "survey_not_found")
    r = await feedback.client.get("/v1/tickets/not-a-uuid/survey", headers=agent_headers())
    assert r.status_code == 422


async def test_the_delivery_system_fetches_each_link_until_it_reports_it_sent(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    first, second = create_ticket_resolved(create_ticket_created()), create_ticket_resolved(create_ticket_created())
    await publish(platform, first, second)
    await eventually(lambda: staff_survey(feedback, first.data.ticket_id))
    await eventually(lambda: staff_survey(feedback, second.data.ticket_id))

    page = (await feedback.client.get("/v1/survey-deliveries?limit=1", headers=NOTIFIER)).json()
    [one] = page["items"]
    rest = (await feedback.client.get(f"/v1/survey-deliveries?after={page['next_after']}", headers=NOTIFIER)).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["survey_id"] != one["survey_id"]
    assert rest["next_after"] is None

    r = await feedback.client.post(f"/v1/survey-deliveries/{one['survey_id']}/delivered", headers=NOTIFIER)
    assert r.status_code == 200
    again = await feedback.client.post(f"/v1/survey-deliveries/{one['survey_id']}/delivered", headers=NOTIFIER)
    assert again.json()["delivered_at"] == r.json()["delivered_at"]  # idempotent: the first time stays
    left = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"]
    assert [i["survey_id"] for i in left] == [rest["items"][0]["survey_id"]]
    delivered = await staff_survey(feedback, uuid.UUID(one["ticket_id"]))
    assert delivered is not None and delivered["delivered_at"] == r.json()["delivered_at"]

    # the customer answers through the link the delivery system sent: nothing is left to deliver
    r = await answer(feedback, link_path(rest["items"][0]["link"]), GOOD_ANSWER)
    assert r.status_code == 201, r.text
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []

    missing = await feedback.client.post(f"/v1/survey-deliveries/{uuid.uuid4()}/delivered", headers=NOTIFIER)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "survey_not_found")

    # every link handed out is audited, without the token
    audit = (await feedback.client.get("/v1/audit?action=survey.link_issued", headers=admin_headers())).json()
    assert {e["subject"] for e in audit["items"]} == {
        f"survey:{one['survey_id']}",
        f"survey:{rest['items'][0]['survey_id']}",
    }
    assert all(e["actor"] == "mailer" and e["role"] == "notifier" for e in audit["items"])
    for item in (one, rest["items"][0]):
        assert item["link"].rsplit("/", 1)[-1] not in json.dumps(audit)


async def test_no_record_on_the_feedback_topic_carries_a_survey_token(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    """Links are credentials: whoever reads the topic (or the outbox kept for replay) must not
    be able to answer a survey."""
    _, answered = await create_survey(feedback, platform)
    _, delivered = await create_survey(feedback, platform)
    assert (await answer(feedback, link_path(answered["link"]), GOOD_ANSWER)).status_code == 201
    r = await feedback.client.post(f"/v1/survey-deliveries/{delivered['id']}/delivered", headers=NOTIFIER)
    assert r.status_code == 200
    secrets = [s["link"].rsplit("/", 1)[-1].encode() for s in (answered, delivered)] + [PUBLIC_URL.encode()]

    records = await read_topic(platform, feedback_topic(platform), count=3)
    types = sorted(json.loads(r.value)["type"] for r in records)
    assert types == ["feedback.received.v1", "feedback.survey_sent.v2", "feedback.survey_sent.v2"]
    for record in records:
        raw = b"".join([record.key or b"", record.value or b"", *(k.encode() + v for k, v in record.headers)])
        assert not [s for s in secrets if s in raw], record

    table = messaging.outbox
    async with feedback.runtime.sessions() as session:
        rows = (await session.execute(select(table.c.payload, table.c.headers))).all()
    assert len(rows) == 3
    for payload, headers in rows:
        assert not [s for s in secrets if s.decode() in payload + json.dumps(headers)]


async def test_an_address_guessing_survey_links_is_slowed_down(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3})
    settings = FeedbackSettings(
        database_url=await new_database("feedback"), platform=limited, public_base_url=PUBLIC_URL
    )
    async with serve(create_app(settings, clock=clock)) as feedback:
        for _ in range(3):
            guess = await feedback.client.get(f"/v1/surveys/{'A' * 43}")
            assert guess.status_code == 404
        blocked = await feedback.client.post(f"/v1/surveys/{'B' * 43}", json=GOOD_ANSWER)
        assert blocked.status_code == 429 and "Retry-After" in blocked.headers
