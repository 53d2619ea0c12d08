"""feedback over real HTTP, on a real PostgreSQL and broker, with an injected clock: a resolved
ticket's survey goes out after the delay, once, on the customer's channel; reopening withdraws
it; one reminder; answers checked against the template the survey was sent with; a low score is
announced; relationship surveys timed by segment; all of it surviving a restart."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.builders import T0, create_ticket_created, create_ticket_resolved
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    columns_holding,
    eventually,
    publish,
    read_events,
    read_topic,
    serve,
)
from ticketloop_feedback.app import create_app
from ticketloop_feedback.db import messaging
from ticketloop_feedback.keys.models import CustomerKey
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys.models import Survey, SurveyLink
from ticketloop_feedback.surveys.scheduled import seal_clear_texts
from ticketloop_shared.auth import Role
from ticketloop_shared.bearer import bearer_digest, new_bearer
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import (
    CustomerErasedData,
    CustomerSegmentChanged,
    CustomerSegmentChangedData,
    EventType,
    TicketCreated,
    TicketOrigin,
    TicketReopened,
    TicketReopenedData,
    TicketResolved,
    Topics,
)
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.unit_of_work import build_event

PUBLIC_URL = "https://surveys.example.test"
NOW = T0 + timedelta(hours=2)
RESOLVED_AT = T0 + timedelta(hours=1)  # `create_ticket_resolved`'s default: an hour after creation
DUE = RESOLVED_AT + timedelta(hours=2)  # the default delay
GOOD_ANSWER: dict[str, Any] = {"csat": 4, "comment": "Quick and kind, thank you"}
NOTIFIER = agent_headers("mailer", Role.NOTIFIER)
NewDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def feedback_settings(platform: PlatformSettings, database_url: str, **overrides: Any) -> FeedbackSettings:
    return FeedbackSettings(
        database_url=database_url,
        platform=platform,
        public_base_url=PUBLIC_URL,
        survey_timer_max_idle_seconds=0.05,
        **overrides,
    )


@pytest.fixture
async def feedback(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = feedback_settings(platform, await new_database("feedback"))
    async with serve(create_app(settings, clock=clock)) as running:
        yield running


# --- helpers ----------------------------------------------------------------------------------


def feedback_topic(platform: PlatformSettings) -> str:
    return Topics(platform.topic_prefix).for_family("feedback")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def resolved_for(created: TicketCreated, *, at: datetime = RESOLVED_AT, **data: Any) -> TicketResolved:
    """`ticket.resolved` at `at`, with more of its fields (`customer_preferred_channel`, `origin`)."""
    resolved = create_ticket_resolved(created, at=at)
    return resolved.model_copy(update={"data": resolved.data.model_copy(update=data)})


def reopened_for(created: TicketCreated, when: datetime) -> TicketReopened:
    ref = created.data.model_dump(include={"ticket_id", "number", "channel", "category", "urgency", "customer_id"})
    data = TicketReopenedData(
        **ref,
        created_at=created.data.created_at,
        reopened_at=when,
        previous_status="resolved",
        reason="customer_message",
        actor="customer",
    )
    event = build_event(data, source="intake", time=when)
    assert isinstance(event, TicketReopened)
    return event


def segment_changed(customer_id: str, segment: str, when: datetime, **data: Any) -> CustomerSegmentChanged:
    payload = CustomerSegmentChangedData(customer_id=customer_id, segment=segment, changed_at=when, **data)
    event = build_event(payload, source="retrospective", time=when, subject=customer_id)
    assert isinstance(event, CustomerSegmentChanged)
    return event


async def staff_survey(feedback: RunningService, ticket_id: uuid.UUID) -> dict[str, Any] | None:
    r = await feedback.client.get(f"/v1/tickets/{ticket_id}/survey", headers=admin_headers())
    return r.json() if r.status_code == 200 else None


async def survey_when(
    feedback: RunningService, ticket_id: uuid.UUID, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        survey = await staff_survey(feedback, ticket_id)
        return survey if survey is not None and check(survey) else None

    found: dict[str, Any] = await eventually(probe)
    return found


async def customer_surveys(feedback: RunningService, customer_id: str, **filters: str) -> list[dict[str, Any]]:
    r = await feedback.client.get(
        "/v1/surveys", params={"customer_id": customer_id, **filters}, headers=admin_headers()
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def link_for(feedback: RunningService, survey_id: str) -> str:
    """The survey's link as the delivery system gets it (the only place a link is handed out)."""
    page = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()
    [link] = [item["link"] for item in page["items"] if item["survey_id"] == survey_id]
    return str(link)


def link_path(link: str) -> str:
    """The survey link's path, served by the test instance (the link's host is the public one)."""
    assert link.startswith(f"{PUBLIC_URL}/v1/surveys/"), link
    return urlsplit(link).path


async def sent_survey(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock, **data: Any
) -> tuple[TicketResolved, dict[str, Any]]:
    """A resolved ticket's survey, made the real way (`ticket.resolved` over the broker, then the
    clock past its due time), with the link the customer was sent."""
    resolved = resolved_for(create_ticket_created(), **data)
    await publish(platform, resolved)
    scheduled = await survey_when(feedback, resolved.data.ticket_id, lambda s: s["status"] in {"scheduled", "open"})
    clock.set(max(clock.now(), at(scheduled["due_at"])))
    survey = await survey_when(feedback, resolved.data.ticket_id, lambda s: s["status"] == "open")
    return resolved, {**survey, "link": await link_for(feedback, survey["id"])}


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


async def events_on_topic(platform: PlatformSettings, *types: str, timeout: float = 1.0) -> list[dict[str, Any]]:
    """Every feedback event of these types published so far (reading until `timeout` passes quietly)."""
    events = await read_events(platform, feedback_topic(platform), count=100_000, timeout=timeout)
    return [e for e in events if e["type"] in types]


async def settle(feedback: RunningService) -> None:
    """Let the timer run a few more times, so a second send or reminder would have happened."""
    await asyncio.sleep(0.4)


# --- when a ticket survey goes out ------------------------------------------------------------


async def test_a_resolved_ticket_is_surveyed_after_the_delay_once_on_the_customers_channel(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    created = create_ticket_created()
    resolved = resolved_for(created, customer_preferred_channel="wechat")
    # the same resolution delivered twice, then announced again under a new event id (a replayed
    # outbox row): one subject, one partition, so once the last is handled all of them are
    replayed = resolved.model_copy(update={"id": uuid.uuid4()})
    await publish(platform, resolved, resolved, replayed)
    await eventually(lambda: handled(feedback, replayed.id))

    survey = await staff_survey(feedback, created.data.ticket_id)
    assert survey is not None
    assert (survey["status"], survey["kind"], survey["sent_at"]) == ("scheduled", "ticket", None)
    assert at(survey["due_at"]) == DUE
    assert await count_surveys(feedback) == 1
    assert await outbox_types(feedback) == []  # nothing is announced before it goes out
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []

    clock.set(DUE - timedelta(seconds=1))
    await settle(feedback)
    assert (await staff_survey(feedback, created.data.ticket_id) or {})["status"] == "scheduled"

    clock.set(DUE)
    survey = await survey_when(feedback, created.data.ticket_id, lambda s: s["status"] == "open")
    assert at(survey["sent_at"]) == DUE and at(survey["expires_at"]) == DUE + timedelta(days=14)
    assert survey["template_version"] == 2 and survey["channel"] == "wechat"
    await settle(feedback)
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    [sent] = await read_events(platform, feedback_topic(platform), count=1)
    assert sent["type"] == "feedback.survey_sent.v2"
    assert (sent["source"], sent["subject"]) == ("feedback", str(created.data.ticket_id))
    assert sent["correlation_id"] == str(created.data.ticket_id)  # the ticket's conversation
    assert sent["data"] == {
        "survey_id": survey["id"],
        "ticket_id": str(created.data.ticket_id),
        "customer_id": created.data.customer_id,
        "expires_at": sent["data"]["expires_at"],
        "kind": "ticket",
        "template_id": "ticket",
        "channel": "wechat",
        "sent_at": sent["data"]["sent_at"],
    }
    assert at(sent["data"]["sent_at"]) == DUE

    [delivery] = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"]
    assert (delivery["survey_id"], delivery["channel"], delivery["reminder"]) == (survey["id"], "wechat", False)
    assert delivery["link"].rsplit("/", 1)[-1] not in json.dumps(sent)  # no link on the topic
    r = await feedback.client.get(link_path(delivery["link"]))  # the link works, with no credentials
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["ticket_number"], r.json()["kind"]) == ("open", created.data.number, "ticket")


async def test_a_resolution_already_past_its_delay_is_surveyed_at_once(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    clock.set(DUE + timedelta(hours=5))  # feedback hears of the resolution late
    created = create_ticket_created()
    await publish(platform, resolved_for(created))
    survey = await survey_when(feedback, created.data.ticket_id, lambda s: s["status"] == "open")
    assert at(survey["sent_at"]) == DUE + timedelta(hours=5)
    [sent] = await read_events(platform, feedback_topic(platform), count=1)
    assert sent["type"] == "feedback.survey_sent.v2"


async def test_a_care_contact_is_not_surveyed_but_a_recovery_ticket_is(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    care, recovery = create_ticket_created(), create_ticket_created()
    care_resolved = resolved_for(care, origin=TicketOrigin.CARE)
    await publish(platform, care_resolved, resolved_for(recovery, origin=TicketOrigin.RECOVERY))
    await survey_when(feedback, recovery.data.ticket_id, lambda s: s["status"] == "scheduled")
    await eventually(lambda: handled(feedback, care_resolved.id))
    assert await staff_survey(feedback, care.data.ticket_id) is None
    assert await count_surveys(feedback) == 1


async def test_a_survey_due_next_week_is_sent_next_week_once_across_a_restart(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    settings = feedback_settings(platform, await new_database("feedback"))
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    since = NOW.date()
    due = datetime(since.year, since.month, since.day, tzinfo=NOW.tzinfo) + timedelta(days=7)
    async with serve(create_app(settings, clock=clock)) as first:
        await publish(platform, segment_changed(customer, "new", NOW, customer_since=since, preferred_channel="sms"))
        [scheduled] = await eventually(lambda: customer_surveys(first, customer))
        assert (scheduled["kind"], scheduled["status"], at(scheduled["due_at"])) == ("onboarding", "scheduled", due)
        assert scheduled["ticket_id"] is None
    # the service stops; a week later a new process on the same database sends it, once
    clock.set(due + timedelta(minutes=1))
    async with serve(create_app(settings, clock=clock)) as second:
        [sent] = await eventually(lambda: customer_surveys(second, customer, status="open"))
        assert (sent["id"], at(sent["sent_at"]), sent["channel"]) == (
            scheduled["id"],
            due + timedelta(minutes=1),
            "sms",
        )
        await settle(second)
        assert await outbox_types(second) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    # and once more after another restart: nothing is sent again
    async with serve(create_app(settings, clock=clock)) as third:
        await settle(third)
        assert await outbox_types(third) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    announced = await events_on_topic(platform, "feedback.survey_sent.v2")
    assert [(e["data"]["survey_id"], e["data"]["kind"], e["subject"]) for e in announced] == [
        (scheduled["id"], "onboarding", customer)
    ]


@pytest.mark.slow
async def test_replicas_sharing_the_database_send_each_due_survey_once(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    settings = feedback_settings(platform, await new_database("feedback"))
    tickets = [create_ticket_created() for _ in range(20)]
    async with serve(create_app(settings, clock=clock)) as one, serve(create_app(settings, clock=clock)) as two:
        await publish(platform, *(resolved_for(t) for t in tickets))
        await eventually(lambda: _count_is(one, 20))
        clock.set(DUE)
        for t in tickets:
            await survey_when(one, t.data.ticket_id, lambda s: s["status"] == "open")
        await settle(two)
        assert (await outbox_types(one)).count(EventType.FEEDBACK_SURVEY_SENT_V2) == 20


async def _count_is(feedback: RunningService, n: int) -> bool:
    return await count_surveys(feedback) == n


# --- reopen -----------------------------------------------------------------------------------


async def test_a_reopen_withdraws_the_unanswered_survey_and_the_next_resolution_gets_a_fresh_one(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, first = await sent_survey(feedback, platform, clock)
    ticket_id = resolved.data.ticket_id
    story = create_ticket_created(
        ticket_id=ticket_id, number=resolved.data.number, customer_id=resolved.data.customer_id
    )

    await publish(platform, reopened_for(story, DUE + timedelta(hours=1)))
    withdrawn = await survey_when(feedback, ticket_id, lambda s: s["status"] == "cancelled")
    assert (withdrawn["id"], withdrawn["cancel_reason"]) == (first["id"], "reopened")
    r = await answer(feedback, link_path(first["link"]), GOOD_ANSWER)
    assert (r.status_code, r.json()["error"]["code"]) == (410, "survey_cancelled")
    assert (await feedback.client.get(link_path(first["link"]))).json()["status"] == "cancelled"
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []

    second_resolution = DUE + timedelta(hours=3)
    await publish(platform, resolved_for(story, at=second_resolution))
    fresh = await survey_when(feedback, ticket_id, lambda s: s["id"] != first["id"])
    assert (fresh["status"], at(fresh["due_at"])) == ("scheduled", second_resolution + timedelta(hours=2))
    clock.set(second_resolution + timedelta(hours=2))
    await survey_when(feedback, ticket_id, lambda s: s["status"] == "open")
    await settle(feedback)

    assert await outbox_types(feedback) == [
        EventType.FEEDBACK_SURVEY_SENT_V2,
        EventType.FEEDBACK_SURVEY_CANCELLED,
        EventType.FEEDBACK_SURVEY_SENT_V2,
    ]
    [cancelled] = await events_on_topic(platform, "feedback.survey_cancelled.v1")
    assert cancelled["data"]["survey_id"] == first["id"]
    assert (cancelled["data"]["reason"], cancelled["data"]["kind"]) == ("reopened", "ticket")
    assert cancelled["subject"] == str(ticket_id)
    assert len(await customer_surveys(feedback, resolved.data.customer_id)) == 2


async def test_a_reopen_arriving_before_its_resolution_keeps_that_survey_from_going_out(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    created = create_ticket_created()
    reopened = reopened_for(created, RESOLVED_AT + timedelta(hours=1))
    stale = resolved_for(created)  # the resolution that reopen undid, delivered after it
    await publish(platform, reopened, stale)
    await eventually(lambda: handled(feedback, stale.id))
    assert await staff_survey(feedback, created.data.ticket_id) is None

    clock.set(DUE + timedelta(days=1))
    await settle(feedback)
    assert await outbox_types(feedback) == []

    later = resolved_for(created, at=RESOLVED_AT + timedelta(hours=2))  # resolved again after the reopen
    await publish(platform, later)
    survey = await survey_when(feedback, created.data.ticket_id, lambda s: s["status"] == "open")
    assert at(survey["due_at"]) == RESOLVED_AT + timedelta(hours=4)


async def test_an_answered_survey_stays_answered_when_its_ticket_reopens(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    assert (await answer(feedback, link_path(survey["link"]), GOOD_ANSWER)).status_code == 201
    story = create_ticket_created(ticket_id=resolved.data.ticket_id, customer_id=resolved.data.customer_id)
    reopen = reopened_for(story, DUE + timedelta(hours=1))
    await publish(platform, reopen)
    await eventually(lambda: handled(feedback, reopen.id))
    assert (await staff_survey(feedback, resolved.data.ticket_id) or {})["status"] == "answered"
    assert EventType.FEEDBACK_SURVEY_CANCELLED not in await outbox_types(feedback)


# --- reminders --------------------------------------------------------------------------------


async def test_an_unanswered_survey_is_reminded_once_and_listed_for_delivery_again(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock, customer_preferred_channel="email")
    delivered = f"/v1/survey-deliveries/{survey['id']}/delivered"
    assert (await feedback.client.post(delivered, headers=NOTIFIER)).status_code == 200
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []

    sent_at = at(survey["sent_at"])
    clock.set(sent_at + timedelta(hours=72) - timedelta(seconds=1))
    await settle(feedback)
    assert EventType.FEEDBACK_SURVEY_REMINDED not in await outbox_types(feedback)

    clock.set(sent_at + timedelta(hours=72))
    reminded = await survey_when(feedback, resolved.data.ticket_id, lambda s: s["reminded_at"] is not None)
    assert at(reminded["reminded_at"]) == sent_at + timedelta(hours=72)
    [again] = (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"]
    assert (again["survey_id"], again["reminder"], again["channel"]) == (survey["id"], True, "email")
    r = await feedback.client.post(delivered, headers=NOTIFIER)
    assert r.json()["reminder_delivered_at"] is not None
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []

    clock.set(sent_at + timedelta(days=13))  # long after, still open: no second reminder
    await settle(feedback)
    assert (await outbox_types(feedback)).count(EventType.FEEDBACK_SURVEY_REMINDED) == 1
    [event] = await events_on_topic(platform, "feedback.survey_reminded.v1")
    assert (event["data"]["survey_id"], event["data"]["channel"]) == (survey["id"], "email")
    # the reminded link still takes its one answer
    assert (await answer(feedback, link_path(survey["link"]), GOOD_ANSWER)).status_code == 201


async def test_an_answered_survey_is_not_reminded(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    _, survey = await sent_survey(feedback, platform, clock)
    assert (await answer(feedback, link_path(survey["link"]), GOOD_ANSWER)).status_code == 201
    clock.set(at(survey["sent_at"]) + timedelta(hours=100))
    await settle(feedback)
    assert EventType.FEEDBACK_SURVEY_REMINDED not in await outbox_types(feedback)


# --- answers ----------------------------------------------------------------------------------


async def test_the_link_needs_no_login_and_takes_exactly_one_answer(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    path = link_path(survey["link"])

    r = await feedback.client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    shown = r.json()
    assert (shown["status"], shown["ticket_number"]) == ("open", resolved.data.number)
    assert (shown["template_id"], shown["template_version"]) == ("ticket", 2)
    assert at(shown["expires_at"]) == DUE + timedelta(days=14)
    questions = [(q["id"], q["kind"], q["required"], q["min"], q["max"]) for q in shown["questions"]]
    assert questions == [("csat", "scale", True, 1, 5), ("comment", "text", False, None, None)]

    r = await answer(feedback, path, GOOD_ANSWER)
    assert r.status_code == 201, r.text
    assert r.json()["answers"] == GOOD_ANSWER
    assert at(r.json()["answered_at"]) == DUE

    events = await read_events(platform, feedback_topic(platform), count=2)
    [received] = [e for e in events if e["type"] == "feedback.received.v2"]
    assert received["subject"] == str(resolved.data.ticket_id)
    assert received["data"] == {
        "survey_id": survey["id"],
        "ticket_id": str(resolved.data.ticket_id),
        "customer_id": resolved.data.customer_id,
        "kind": "ticket",
        "template_id": "ticket",
        "csat": 4,
        "nps": None,
        "dimensions": {},
        "has_comment": True,
        "contact_ok": None,
        "answered_at": received["data"]["answered_at"],
    }
    assert GOOD_ANSWER["comment"] not in json.dumps(received)  # the text stays in feedback's store

    again = await answer(feedback, path, {"csat": 1})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "survey_already_answered")
    assert (await feedback.client.get(path)).json()["status"] == "answered"
    after = await staff_survey(feedback, resolved.data.ticket_id)
    assert after is not None and after["answer"] == r.json()
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2, EventType.FEEDBACK_RECEIVED_V2]


async def test_answers_racing_each_other_record_exactly_one(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    path = link_path(survey["link"])

    responses = await asyncio.gather(*(answer(feedback, path, {"csat": c}) for c in range(1, 6)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    [winner] = [r.json() for r in responses if r.status_code == 201]
    recorded = await staff_survey(feedback, resolved.data.ticket_id)
    assert recorded is not None and recorded["answer"] == winner
    assert (await outbox_types(feedback)).count(EventType.FEEDBACK_RECEIVED_V2) == 1


async def test_an_answer_is_checked_against_the_template_with_a_precise_422_and_records_nothing(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    path = link_path(survey["link"])
    cases: list[tuple[Any, str, list[str]]] = [
        ({"csat": 4, "nps": 9}, "unknown_question", ["body", "nps"]),  # a ticket survey asks no NPS
        ({"csat": 3, "rating": 5}, "unknown_question", ["body", "rating"]),
        ({"comment": "no score"}, "missing", ["body", "csat"]),
        ({}, "missing", ["body", "csat"]),
        ({"csat": 0}, "greater_than_equal", ["body", "csat"]),
        ({"csat": 6}, "less_than_equal", ["body", "csat"]),
        ({"csat": "5"}, "int_type", ["body", "csat"]),
        ({"csat": 4.5}, "int_type", ["body", "csat"]),
        ({"csat": 4.0}, "int_type", ["body", "csat"]),
        ({"csat": True}, "int_type", ["body", "csat"]),
        ({"csat": 3, "comment": "x" * 2001}, "string_too_long", ["body", "comment"]),
        ({"csat": 3, "comment": 42}, "string_type", ["body", "comment"]),
        ({"csat": 3, "comment": "nul\x00byte"}, "nul_byte", ["body", "comment"]),
    ]
    for body, code, loc in cases:
        r = await answer(feedback, path, body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        # NUL is refused by the guard every body goes through, before the template is consulted.
        assert error["code"] == ("validation_error" if code == "nul_byte" else "invalid_answer"), body
        assert {"loc": loc, "type": code} in [{"loc": d["loc"], "type": d["type"]} for d in error["details"]], body
    # every reason at once
    r = await answer(feedback, path, {"nps": 9, "comment": 1})
    assert {(d["loc"][1], d["type"]) for d in r.json()["error"]["details"]} == {
        ("nps", "unknown_question"),
        ("csat", "missing"),
        ("comment", "string_type"),
    }
    # not an object of answers at all (the house answer to any such body)
    for body in ([4], "csat=4", 4):
        r = await answer(feedback, path, body)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "body_not_object"), body

    assert (await feedback.client.get(path)).json()["status"] == "open"
    recorded = await staff_survey(feedback, resolved.data.ticket_id)
    assert recorded is not None and recorded["answer"] is None
    assert await outbox_types(feedback) == [EventType.FEEDBACK_SURVEY_SENT_V2]
    # still answerable after all that, and a 2000-character comment is fine
    r = await answer(feedback, path, {"csat": 5, "comment": "y" * 2000})
    assert r.status_code == 201, r.text


async def test_a_low_ticket_score_announces_a_low_score_with_the_category_and_channel(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock, customer_preferred_channel="phone")
    r = await answer(feedback, link_path(survey["link"]), {"csat": 2})
    assert r.status_code == 201, r.text

    assert await outbox_types(feedback) == [
        EventType.FEEDBACK_SURVEY_SENT_V2,
        EventType.FEEDBACK_RECEIVED_V2,
        EventType.FEEDBACK_LOW_SCORE,
    ]
    events = await read_events(platform, feedback_topic(platform), count=3)
    [low] = [e for e in events if e["type"] == "feedback.low_score.v1"]
    assert low["subject"] == str(resolved.data.ticket_id)
    assert low["data"] == {
        "survey_id": survey["id"],
        "ticket_id": str(resolved.data.ticket_id),
        "customer_id": resolved.data.customer_id,
        "kind": "ticket",
        "reasons": ["csat"],
        "csat": 2,
        "overall": None,
        "nps": None,
        "category": resolved.data.category,
        "preferred_channel": "phone",
        "answered_at": low["data"]["answered_at"],
    }


async def test_a_satisfied_answer_announces_no_low_score(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    _, survey = await sent_survey(feedback, platform, clock)
    assert (await answer(feedback, link_path(survey["link"]), {"csat": 3})).status_code == 201
    assert EventType.FEEDBACK_LOW_SCORE not in await outbox_types(feedback)


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


async def test_a_scheduled_surveys_token_opens_nothing_until_it_is_sent(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created()
    await publish(platform, resolved_for(created))
    scheduled = await survey_when(feedback, created.data.ticket_id, lambda s: s["status"] == "scheduled")
    async with feedback.runtime.sessions() as session:
        survey_id = uuid.UUID(scheduled["id"])
        # no link exists before it goes out (links are minted when a delivery system fetches one)
        assert await session.scalar(select(func.count()).where(SurveyLink.survey_id == survey_id)) == 0
        # and a token that did name it (as every survey's did before links were minted) opens nothing
        token = new_bearer()
        session.add(SurveyLink(token_hash=bearer_digest(token), survey_id=survey_id, issued_at=NOW))
        await session.commit()
    for r in (await feedback.client.get(f"/v1/surveys/{token}"), await answer(feedback, f"/v1/surveys/{token}", {})):
        assert (r.status_code, r.json()["error"]["code"]) == (404, "survey_not_found")


async def test_the_database_keeps_no_link_and_every_link_handed_out_opens_the_survey(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    _, survey = await sent_survey(feedback, platform, clock)
    first = link_path(survey["link"])
    r = await feedback.client.get(f"/v1/survey-deliveries/{survey['id']}", headers=NOTIFIER)
    assert r.status_code == 200, r.text
    second = link_path(r.json()["link"])
    assert first != second  # a link cannot be read back, so each hand-out mints one
    database = feedback.runtime.settings.database_url
    for path in (first, second):
        token = path.rsplit("/", 1)[-1]
        assert await columns_holding(database, token) == []
        assert (await feedback.client.get(path)).json()["status"] == "open"
    assert (await answer(feedback, second, GOOD_ANSWER)).status_code == 201
    assert (await feedback.client.get(first)).json()["status"] == "answered"
    r = await answer(feedback, first, GOOD_ANSWER)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "survey_already_answered")


async def test_an_unanswered_survey_closes_at_its_expiry_with_410(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
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
    assert EventType.FEEDBACK_RECEIVED_V2 not in await outbox_types(feedback)


# --- relationship surveys by segment ----------------------------------------------------------


async def test_a_new_customer_is_surveyed_a_week_after_customer_since_and_only_once_ever(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    since = date(2026, 11, 20)
    due = datetime(2026, 11, 27, tzinfo=NOW.tzinfo)
    first = segment_changed(customer, "new", NOW, customer_since=since, first_seen_at=NOW, preferred_channel="app")
    # announced new again later (and an older announcement arriving late): still one survey
    again = segment_changed(customer, "new", NOW + timedelta(days=1), customer_since=since)
    late = segment_changed(customer, "potential", NOW - timedelta(days=1))
    await publish(platform, first, again, late)
    await eventually(lambda: handled(feedback, late.id))
    [survey] = await customer_surveys(feedback, customer)
    assert (survey["kind"], survey["status"], at(survey["due_at"])) == ("onboarding", "scheduled", due)

    clock.set(due)
    [sent] = await eventually(lambda: customer_surveys(feedback, customer, status="open"))
    link = await link_for(feedback, sent["id"])
    shown = (await feedback.client.get(link_path(link))).json()
    assert (shown["kind"], shown["template_id"], shown["ticket_number"]) == ("onboarding", "relationship", None)
    reason = next(q for q in shown["questions"] if q["id"] == "nps_reason")
    assert (reason["high_from"], reason["prompt_when_high"], reason["prompt_when_low"]) == (
        7,
        "Why would you recommend us?",
        "Why would you not recommend us?",
    )

    # a disappointed new customer: overall and NPS both at or under their thresholds
    scores = {"quality": 5, "response_speed": 6, "resolution": 4, "care": 7, "overall": 5, "nps": 3}
    r = await answer(feedback, link_path(link), {**scores, "nps_reason": "Slow", "contact_ok": True})
    assert r.status_code == 201, r.text
    assert r.json()["nps_reason_prompt"] == "Why would you not recommend us?"
    events = await read_events(platform, feedback_topic(platform), count=3)
    [received] = [e for e in events if e["type"] == "feedback.received.v2"]
    [low] = [e for e in events if e["type"] == "feedback.low_score.v1"]
    assert received["subject"] == low["subject"] == customer
    assert received["data"]["dimensions"] == {k: v for k, v in scores.items() if k != "nps"}
    assert (received["data"]["nps"], received["data"]["contact_ok"], received["data"]["ticket_id"]) == (3, True, None)
    assert (low["data"]["reasons"], low["data"]["overall"], low["data"]["nps"]) == (["overall", "nps"], 5, 3)
    assert (low["data"]["kind"], low["data"]["preferred_channel"], low["data"]["category"]) == (
        "onboarding",
        "app",
        None,
    )


async def test_a_high_value_customer_is_surveyed_at_quarter_end_and_leaving_the_segment_withdraws_it(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    quarter_end = datetime(2027, 1, 1, tzinfo=NOW.tzinfo)  # NOW is in 2026-Q4 (UTC)
    await publish(platform, segment_changed(customer, "high_value", NOW, preferred_channel="email"))
    [survey] = await eventually(lambda: customer_surveys(feedback, customer, kind="quarterly"))
    assert (survey["status"], at(survey["due_at"])) == ("scheduled", quarter_end)

    left = segment_changed(customer, "potential", NOW + timedelta(days=1))
    await publish(platform, left)
    [withdrawn] = await eventually(lambda: customer_surveys(feedback, customer, status="cancelled"))
    assert (withdrawn["id"], withdrawn["cancel_reason"]) == (survey["id"], "segment_left")
    [cancelled] = await eventually(lambda: events_on_topic(platform, "feedback.survey_cancelled.v1"))
    assert (cancelled["data"]["reason"], cancelled["data"]["kind"], cancelled["subject"]) == (
        "segment_left",
        "quarterly",
        customer,
    )
    clock.set(quarter_end + timedelta(minutes=1))
    await settle(feedback)
    assert EventType.FEEDBACK_SURVEY_SENT_V2 not in await outbox_types(feedback)


async def test_joining_and_leaving_the_high_value_segment_in_one_run_schedules_then_withdraws(
    feedback: RunningService, platform: PlatformSettings
) -> None:
    # Both announcements reach feedback in one poll batch: applied in their order, in rounds.
    customer, other = f"cust-{uuid.uuid4().hex[:8]}", f"cust-{uuid.uuid4().hex[:8]}"
    joined = segment_changed(customer, "high_value", NOW, preferred_channel="email")
    stays = segment_changed(other, "high_value", NOW)
    left = segment_changed(customer, "potential", NOW + timedelta(days=1))
    await publish(platform, joined, stays, left)
    await eventually(lambda: handled(feedback, left.id))
    [withdrawn] = await customer_surveys(feedback, customer, kind="quarterly")
    assert (withdrawn["status"], withdrawn["cancel_reason"]) == ("cancelled", "segment_left")
    [kept] = await customer_surveys(feedback, other, kind="quarterly")
    assert kept["status"] == "scheduled"


async def test_a_high_value_customer_gets_one_survey_per_quarter_while_in_the_segment(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    q4_end, q1_end = datetime(2027, 1, 1, tzinfo=NOW.tzinfo), datetime(2027, 4, 1, tzinfo=NOW.tzinfo)
    # announced twice (a newer announcement, same segment), then back from a short absence
    events = [
        segment_changed(customer, "high_value", NOW),
        segment_changed(customer, "high_value", NOW + timedelta(hours=1)),
        segment_changed(customer, "churn_risk", NOW + timedelta(hours=2)),
        segment_changed(customer, "high_value", NOW + timedelta(hours=3), preferred_channel="phone"),
    ]
    await publish(platform, *events)
    await eventually(lambda: handled(feedback, events[-1].id))
    [survey] = await customer_surveys(feedback, customer)
    assert (survey["status"], at(survey["due_at"])) == ("scheduled", q4_end)  # the withdrawn one, back

    clock.set(q4_end)
    [sent] = await eventually(lambda: customer_surveys(feedback, customer, status="open"))
    assert (sent["id"], sent["channel"]) == (survey["id"], "phone")
    [sent_event] = await eventually(lambda: events_on_topic(platform, "feedback.survey_sent.v2"))
    assert (sent_event["data"]["kind"], sent_event["data"]["template_id"]) == ("quarterly", "relationship")
    [following] = await customer_surveys(feedback, customer, status="scheduled")
    assert at(following["due_at"]) == q1_end  # the next quarter's, while still high-value
    await settle(feedback)
    assert (await outbox_types(feedback)).count(EventType.FEEDBACK_SURVEY_SENT_V2) == 1


async def test_quarter_ends_are_reckoned_in_the_survey_time_zone(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    settings = feedback_settings(platform, await new_database("feedback"), survey_time_zone="Asia/Shanghai")
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    async with serve(create_app(settings, clock=clock)) as feedback:
        await publish(platform, segment_changed(customer, "high_value", NOW))
        [survey] = await eventually(lambda: customer_surveys(feedback, customer))
    # midnight of 1 January in Shanghai is 16:00 UTC on 31 December
    assert at(survey["due_at"]) == datetime(2026, 12, 31, 16, tzinfo=NOW.tzinfo)


# --- templates --------------------------------------------------------------------------------


async def test_admins_edit_a_template_and_surveys_already_out_keep_the_version_they_were_sent_with(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    listed = (await feedback.client.get("/v1/survey-templates", headers=agent_headers())).json()["items"]
    assert {(t["id"], t["version"]) for t in listed} == {("ticket", 2), ("relationship", 1)}
    assert {t["id"]: sorted(t["used_by"]) for t in listed} == {
        "ticket": ["ticket"],
        "relationship": ["onboarding", "quarterly"],
    }
    r = await feedback.client.get("/v1/survey-templates/ticket", headers=agent_headers())
    assert r.headers["etag"] == '"2"'
    _, before = await sent_survey(feedback, platform, clock)

    edited = {
        "name": "Ticket survey with effort",
        "questions": [
            *r.json()["questions"],
            {"id": "effort", "kind": "scale", "prompt": "How easy was it?", "required": True, "min": 1, "max": 7},
        ],
    }
    url = "/v1/survey-templates/ticket"
    denied = await feedback.client.put(url, json=edited, headers=agent_headers())
    assert denied.status_code == 403
    r = await feedback.client.put(url, json=edited, headers={**admin_headers(), "If-Match": '"2"'})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.headers["etag"], r.json()["updated_by"]) == (3, '"3"', "admin-test")
    stale = await feedback.client.put(url, json=edited, headers={**admin_headers(), "If-Match": '"2"'})
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "template_changed")
    assert stale.json()["error"]["details"] == {"expected_version": 2, "current_version": 3, "current_etag": '"3"'}
    missing = await feedback.client.put(url, json=edited, headers=admin_headers())
    assert (missing.status_code, missing.json()["error"]["code"]) == (428, "if_match_required")

    # the survey sent before the edit still asks version 2, and takes its answer
    shown = (await feedback.client.get(link_path(before["link"]))).json()
    assert (shown["template_version"], [q["id"] for q in shown["questions"]]) == (2, ["csat", "comment"])
    assert (await answer(feedback, link_path(before["link"]), {"csat": 5})).status_code == 201
    # one sent after it asks version 3, effort required
    _, after = await sent_survey(feedback, platform, clock)
    assert after["template_version"] == 3
    r = await answer(feedback, link_path(after["link"]), {"csat": 5})
    assert [(d["loc"], d["type"]) for d in r.json()["error"]["details"]] == [(["body", "effort"], "missing")]
    assert (await answer(feedback, link_path(after["link"]), {"csat": 5, "effort": 7})).status_code == 201

    audit = (await feedback.client.get("/v1/audit?action=survey_template.changed", headers=admin_headers())).json()
    assert [(e["subject"], e["details"]) for e in audit["items"]] == [("survey_template:ticket", {"version": 3})]


async def test_a_template_that_cannot_be_rendered_is_refused_whole_with_every_reason(
    feedback: RunningService,
) -> None:
    url = "/v1/survey-templates/ticket"
    bad = {
        "name": "Broken",
        "questions": [
            {"id": "csat", "kind": "scale", "prompt": "Score?", "required": True, "min": 1, "max": 10},
            {"id": "csat", "kind": "text", "prompt": "Again?", "max_length": 10},
            {"id": "effort", "kind": "scale", "prompt": "Easy?", "min": 5, "max": 2},
        ],
    }
    current = {**admin_headers(), "If-Match": '"2"'}
    r = await feedback.client.put(url, json=bad, headers=current)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_template"), r.text
    fields = [d["field"] for d in r.json()["error"]["details"]]
    assert {"questions[0].min", "questions[1].id", "questions[1].kind", "questions[2].min"} <= set(fields)
    r = await feedback.client.put(
        url, json={"name": "x", "questions": [{"id": "q", "kind": "dial", "prompt": "?"}]}, headers=current
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error")
    r = await feedback.client.put(url, json=bad, headers={**admin_headers(), "If-Match": "two"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "invalid_if_match")
    r = await feedback.client.put("/v1/survey-templates/newsletter", json=bad, headers=current)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "template_not_found")
    r = await feedback.client.get(url, headers=agent_headers())
    assert (r.json()["version"], r.headers["etag"]) == (2, '"2"')  # nothing was written


# --- staff and delivery -----------------------------------------------------------------------

STAFF_FIELDS = {
    "id",
    "kind",
    "template_id",
    "template_version",
    "ticket_id",
    "ticket_number",
    "customer_id",
    "status",
    "channel",
    "created_at",
    "due_at",
    "sent_at",
    "reminded_at",
    "delivered_at",
    "cancelled_at",
    "cancel_reason",
    "expires_at",
    "answer",
}


async def test_staff_read_a_tickets_survey_but_never_its_link(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, sent = await sent_survey(feedback, platform, clock)
    token = sent["link"].rsplit("/", 1)[-1]
    url = f"/v1/tickets/{resolved.data.ticket_id}/survey"

    r = await feedback.client.get(url)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "missing_credentials")
    r = await feedback.client.get(url, headers={"Authorization": "Bearer tl1.forged.sig"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_token")

    r = await feedback.client.get(url, headers=admin_headers())
    assert r.status_code == 200, r.text
    survey = r.json()
    assert survey["ticket_id"] == str(resolved.data.ticket_id)
    assert (survey["ticket_number"], survey["customer_id"]) == (resolved.data.number, resolved.data.customer_id)
    assert (survey["status"], survey["answer"]) == ("open", None)
    assert at(survey["created_at"]) == NOW
    assert set(survey) == STAFF_FIELDS and token not in r.text
    r = await feedback.client.get(url, headers=admin_headers())
    assert set(r.json()) == STAFF_FIELDS and token not in r.text
    r = await feedback.client.get(
        "/v1/surveys", params={"customer_id": resolved.data.customer_id}, headers=admin_headers()
    )
    assert [set(s) for s in r.json()["items"]] == [STAFF_FIELDS] and token not in r.text
    # a notifier is not staff, and staff cannot fetch links nor touch their delivery
    r = await feedback.client.get(url, headers=NOTIFIER)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_required")
    assert (await feedback.client.get("/v1/surveys", headers=NOTIFIER)).status_code == 403
    delivered = f"/v1/survey-deliveries/{survey['id']}/delivered"
    for staff in (agent_headers(), admin_headers()):
        r = await feedback.client.get("/v1/survey-deliveries", headers=staff)
        assert r.status_code == 403 and token not in r.text
        assert (await feedback.client.post(delivered, headers=staff)).status_code == 403
    assert (await feedback.client.get("/v1/survey-deliveries")).status_code == 401

    r = await feedback.client.get(f"/v1/tickets/{uuid.uuid4()}/survey", headers=admin_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "survey_not_found")
    r = await feedback.client.get("/v1/tickets/not-a-uuid/survey", headers=admin_headers())
    assert r.status_code == 422


async def test_staff_list_surveys_by_customer_kind_and_status_page_by_page(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    tickets = [create_ticket_created(customer_id=customer) for _ in range(3)]
    await publish(platform, *(resolved_for(t) for t in tickets), segment_changed(customer, "high_value", NOW))
    await eventually(lambda: _count_is(feedback, 4))

    first = (
        await feedback.client.get("/v1/surveys", params={"customer_id": customer, "limit": 2}, headers=admin_headers())
    ).json()
    rest = (
        await feedback.client.get(
            "/v1/surveys", params={"customer_id": customer, "after": first["next_after"]}, headers=admin_headers()
        )
    ).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 2 and rest["next_after"] is None
    assert len({s["id"] for s in first["items"] + rest["items"]}) == 4
    assert len(await customer_surveys(feedback, customer, kind="ticket")) == 3
    assert len(await customer_surveys(feedback, customer, kind="quarterly", status="scheduled")) == 1
    assert await customer_surveys(feedback, customer, status="open") == []
    clock.set(DUE)
    await eventually(lambda: _open_count(feedback, customer, 3))
    r = await feedback.client.get("/v1/surveys", params={"status": "sleeping"}, headers=admin_headers())
    assert r.status_code == 422


async def _open_count(feedback: RunningService, customer: str, n: int) -> bool:
    return len(await customer_surveys(feedback, customer, status="open")) == n


async def test_the_delivery_system_fetches_each_due_link_until_it_reports_it_sent(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    first, second = create_ticket_created(), create_ticket_created()
    await publish(platform, resolved_for(first), resolved_for(second))
    await survey_when(feedback, first.data.ticket_id, lambda s: s["status"] == "scheduled")
    await survey_when(feedback, second.data.ticket_id, lambda s: s["status"] == "scheduled")
    assert (await feedback.client.get("/v1/survey-deliveries", headers=NOTIFIER)).json()["items"] == []
    scheduled = await staff_survey(feedback, first.data.ticket_id)
    assert scheduled is not None
    r = await feedback.client.post(f"/v1/survey-deliveries/{scheduled['id']}/delivered", headers=NOTIFIER)
    assert r.status_code == 404  # not sent yet: nothing to deliver
    clock.set(DUE)
    await survey_when(feedback, first.data.ticket_id, lambda s: s["status"] == "open")
    await survey_when(feedback, second.data.ticket_id, lambda s: s["status"] == "open")

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
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    """Links are credentials: whoever reads the topic (or the outbox kept for replay) must not
    be able to answer a survey."""
    _, answered = await sent_survey(feedback, platform, clock)
    _, reminded = await sent_survey(feedback, platform, clock)
    assert (await answer(feedback, link_path(answered["link"]), {"csat": 1})).status_code == 201
    clock.set(at(reminded["sent_at"]) + timedelta(hours=72))
    await eventually(lambda: _has(feedback, EventType.FEEDBACK_SURVEY_REMINDED))
    secrets = [s["link"].rsplit("/", 1)[-1].encode() for s in (answered, reminded)] + [PUBLIC_URL.encode()]

    records = await read_topic(platform, feedback_topic(platform), count=5)
    types = sorted(json.loads(r.value)["type"] for r in records)
    assert types == [
        "feedback.low_score.v1",
        "feedback.received.v2",
        "feedback.survey_reminded.v1",
        "feedback.survey_sent.v2",
        "feedback.survey_sent.v2",
    ]
    for record in records:
        raw = b"".join([record.key or b"", record.value or b"", *(k.encode() + v for k, v in record.headers)])
        assert not [s for s in secrets if s in raw], record

    table = messaging.outbox
    async with feedback.runtime.sessions() as session:
        rows = (await session.execute(select(table.c.payload, table.c.headers))).all()
    assert len(rows) == 5
    for payload, headers in rows:
        assert not [s for s in secrets if s.decode() in payload + json.dumps(headers)]


async def _has(feedback: RunningService, event_type: str) -> bool:
    return event_type in await outbox_types(feedback)


async def test_an_address_guessing_survey_links_is_slowed_down(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    limited = platform.model_copy(update={"rate_failed_credentials_per_minute": 3})
    settings = feedback_settings(limited, await new_database("feedback"))
    async with serve(create_app(settings, clock=clock)) as feedback:
        for _ in range(3):
            guess = await feedback.client.get(f"/v1/surveys/{'A' * 43}")
            assert guess.status_code == 404
        blocked = await feedback.client.post(f"/v1/surveys/{'B' * 43}", json=GOOD_ANSWER)
        assert blocked.status_code == 429 and "Retry-After" in blocked.headers


# --- what customers write: sealed, and forgotten on erasure -------------------------------------


async def stored_texts(feedback: RunningService, survey_id: str) -> tuple[dict[str, Any] | None, bytes | None]:
    async with feedback.runtime.sessions() as session:
        row = (await session.execute(select(Survey.answers, Survey.texts).where(Survey.id == survey_id))).one()
    return row[0], row[1]


async def test_a_comment_is_stored_sealed_and_forgotten_when_its_customer_is_erased(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    comment = "Write to me at zofia@example.com"
    r = await answer(feedback, link_path(survey["link"]), {"csat": 4, "comment": comment})
    assert r.status_code == 201, r.text
    answers, texts = await stored_texts(feedback, survey["id"])
    assert answers == {"csat": 4, "comment": None}, "the text is not stored with the scores"
    assert texts is not None and texts[0] == 1 and b"zofia" not in texts, "but sealed apart"
    assert (await staff_survey(feedback, resolved.data.ticket_id) or {})["answer"]["answers"]["comment"] == comment

    erased = build_event(
        CustomerErasedData(customer_id=resolved.data.customer_id, erased_at=clock.now()),
        source="intake",
        time=clock.now(),
        subject=resolved.data.customer_id,
    )
    await publish(platform, erased, erased)  # a redelivery changes nothing
    await eventually(lambda: handled(feedback, erased.id))
    survey_now = await staff_survey(feedback, resolved.data.ticket_id)
    assert survey_now is not None and survey_now["answer"]["answers"] == {"csat": 4, "comment": "[erased]"}
    [listed] = await customer_surveys(feedback, resolved.data.customer_id)
    assert listed["answer"]["answers"]["comment"] == "[erased]"
    assert (await stored_texts(feedback, survey["id"]))[1] == b"\x02"
    async with feedback.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CustomerKey)) == 0


async def test_texts_stored_before_sealing_are_sealed_in_place_by_the_job(
    feedback: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    resolved, survey = await sent_survey(feedback, platform, clock)
    r = await answer(feedback, link_path(survey["link"]), {"csat": 3})
    assert r.status_code == 201, r.text
    async with feedback.runtime.sessions() as session:  # as migration 0008 leaves an older answer
        await session.execute(
            update(Survey)
            .where(Survey.id == survey["id"])
            .values(answers={"csat": 3, "comment": None}, texts=b'\x00{"comment": "old words"}')
        )
        await session.commit()
    assert await seal_clear_texts(feedback.runtime) == 1
    texts = (await stored_texts(feedback, survey["id"]))[1]
    assert texts is not None and texts[0] == 1 and b"old words" not in texts
    survey_now = await staff_survey(feedback, resolved.data.ticket_id)
    assert survey_now is not None and survey_now["answer"]["answers"]["comment"] == "old words"
    assert await seal_clear_texts(feedback.runtime) == 0
