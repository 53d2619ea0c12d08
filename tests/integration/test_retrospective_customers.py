"""retrospective's customers, segments and care over real HTTP, on a real PostgreSQL and broker,
with an injected clock: events from the loop become customers, a segment change is announced
once, time moves customers between segments, care contacts fall due once each (across a
restart), a care ticket's resolution completes its task, and an anticipation rule fires once per
customer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.builders import Story
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    pseudonym_in,
    publish_and_apply,
    read_events,
    serve,
)
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.customers import scheduled as customer_jobs
from ticketloop_retrospective.handlers import on_loop_events
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Envelope, TicketOrigin, Topics
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
SINCE = date(2026, 11, 13)  # ten days before T0: a new customer


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


# The sweep is run by the tests themselves (it also runs once at start-up, with nobody to look at);
# the care timer runs on its own, waking at least every 0.2 s.
FAST = {
    "segment_sweep_check_seconds": 3600.0,
    "care_timer_max_idle_seconds": 0.2,
    "top_spend_refresh_minutes": 0.0,
}


@asynccontextmanager
async def retrospective(
    platform: PlatformSettings, database_url: str, clock: FrozenClock, **settings: Any
) -> AsyncIterator[RunningService]:
    """A running retrospective on `database_url`, on the test's clock."""
    config = RetrospectiveSettings(database_url=database_url, platform=platform, **{**FAST, **settings})
    async with serve(create_app(config, clock=clock)) as running:
        yield running


async def feed(service: RunningService, platform: PlatformSettings, events: Sequence[Envelope]) -> None:
    """Publish `events` and wait until each one has been applied."""
    await publish_and_apply(service, platform, events)


def customer_story(customer_id: str, *, at: datetime = T0, **extra: Any) -> tuple[Story, Envelope]:
    """A ticket the customer reported at `at`, and its `ticket.created`."""
    story = Story(created_at=at, customer_id=customer_id)
    if "annual_spend" in extra:
        extra["customer_annual_spend"] = extra.pop("annual_spend")
    fields = {"customer_since": SINCE, "customer_preferred_channel": "phone", **extra}
    return story, story.created(**fields)


async def emitted(platform: PlatformSettings, family: str, event_type: str, subject: str | None = None) -> list[Any]:
    """The `data` of every `event_type` on the family's topic (about `subject`), in order."""
    topic = Topics(platform.topic_prefix).for_family(family)
    return [
        e["data"]
        for e in await read_events(platform, topic, count=100_000, timeout=2)
        if e["type"] == event_type and (subject is None or e["subject"] == subject)
    ]


async def segment_changes(platform: PlatformSettings, customer_id: str, *, count: int) -> list[Any]:
    """The customer's `customer.segment_changed`, once there are `count` (then read once more
    after the outbox is drained, so a second one would show)."""

    async def probe() -> list[Any] | None:
        found = await emitted(platform, "customer", "customer.segment_changed.v1", customer_id)
        return found if len(found) >= count else None

    await eventually(probe)
    return await emitted(platform, "customer", "customer.segment_changed.v1", customer_id)


async def care_tasks(platform: PlatformSettings, customer_id: str, *, count: int, kind: str | None = None) -> list[Any]:
    """The customer's `care.task_due` (of `kind`), once there are `count`."""

    async def probe() -> list[Any] | None:
        found = [
            d
            for d in await emitted(platform, "care", "care.task_due.v1", customer_id)
            if kind is None or d["kind"] == kind
        ]
        return found if len(found) >= count else None

    result: list[Any] = await eventually(probe)
    return result


async def customer(service: RunningService, customer_id: str) -> dict[str, Any]:
    r = await service.client.get(f"/v1/customers/{customer_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def segment_of(service: RunningService, customer_id: str, segment: str) -> dict[str, Any]:
    """The customer once retrospective has them in `segment`."""

    async def probe() -> dict[str, Any] | None:
        r = await service.client.get(f"/v1/customers/{customer_id}", headers=admin_headers())
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and body["segment"] == segment else None

    result: dict[str, Any] = await eventually(probe)
    return result


async def test_a_new_customers_first_ticket_announces_new_once(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    story, created = customer_story("cust-new")
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [created])
        [change] = await segment_changes(platform, "cust-new", count=1)
        assert change == {
            "customer_id": "cust-new",
            "segment": "new",
            "previous_segment": None,
            "reasons": ["tenure_under_3m"],
            "changed_at": "2026-11-23T09:00:00Z",
            "customer_since": "2026-11-13",
            "first_seen_at": "2026-11-23T09:00:00Z",
            "preferred_channel": "phone",
        }
        # the same event redelivered, the same fact re-emitted, more of the ticket's events
        again = created.model_copy(update={"id": uuid.uuid4()})
        await feed(service, platform, [created, again, story.replied(T0 + timedelta(minutes=5))])
        assert len(await segment_changes(platform, "cust-new", count=1)) == 1

        body = await customer(service, "cust-new")
        assert (body["segment"], body["reasons"], body["customer_since"]) == ("new", ["tenure_under_3m"], "2026-11-13")
        assert body["tickets"] == {"opened": 1, "open": 1, "resolved": 0, "proactive": 0}
        assert [h["segment"] for h in body["history"]] == ["new"]
        assert body["last_interaction_at"] == "2026-11-23T09:00:00Z"
        # new customers are contacted daily in their first two weeks: the first contact is tomorrow
        assert body["care"]["schedule"] == {
            "segment": "new",
            "planned_at": "2026-11-23T09:00:00Z",
            "next_due_at": "2026-11-24T09:00:00Z",
        }


async def test_events_in_any_order_build_the_same_customer(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    old_story, old = customer_story("cust-order", at=T0 - timedelta(days=2), annual_spend=100.0)
    new_story, new = customer_story("cust-order", at=T0, annual_spend=300.0, customer_preferred_channel="email")
    events = [new_story.resolved(T0 + timedelta(hours=1)), new, old, old_story.answered(T0 - timedelta(days=1), csat=5)]
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, events)
        body = await customer(service, "cust-order")
        assert body["first_seen_at"] == "2026-11-21T09:00:00Z"  # the earliest ticket
        assert (body["annual_spend"], body["preferred_channel"]) == (300.0, "email")  # the newest profile
        assert body["last_interaction_at"] == "2026-11-23T09:00:00Z"
        assert body["tickets"] == {"opened": 2, "open": 1, "resolved": 1, "proactive": 0}
        assert body["satisfaction"]["average"] == 100.0


async def test_a_spend_in_the_top_20pct_makes_a_customer_high_value(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    spends = {"cust-s1": 100.0, "cust-s2": 200.0, "cust-s3": 300.0, "cust-s4": 400.0, "cust-s5": 500.0}
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        # one customer at a time: with five spends known, the top one (500) is the line
        for customer_id, spend in spends.items():
            await feed(service, platform, [customer_story(customer_id, annual_spend=spend)[1]])
        top = await segment_of(service, "cust-s5", "high_value")
        assert top["reasons"] == ["top_20pct_spend"]
        assert (await customer(service, "cust-s4"))["segment"] == "new"

        # a sixth customer spends 1000: two of six are the top 20%, the line is 500
        await feed(service, platform, [customer_story("cust-s6", annual_spend=1000.0)[1]])
        await segment_of(service, "cust-s6", "high_value")
        # cust-s1's newest ticket says they now spend 2000: the line moves to 1000
        await feed(service, platform, [customer_story("cust-s1", at=T0 + timedelta(hours=1), annual_spend=2000.0)[1]])
        await segment_of(service, "cust-s1", "high_value")
        changes = await segment_changes(platform, "cust-s1", count=2)
        assert [(c["previous_segment"], c["segment"], c["reasons"]) for c in changes] == [
            (None, "new", ["tenure_under_3m"]),
            ("new", "high_value", ["top_20pct_spend"]),
        ]
        # cust-s5 fell below the line; the daily sweep notices
        clock.set(T0 + timedelta(days=1, hours=1))
        await customer_jobs.sweep(service.runtime)
        assert (await customer(service, "cust-s5"))["segment"] == "new"
        assert (await customer(service, "cust-s6"))["segment"] == "high_value"


async def test_three_months_of_silence_make_a_churn_risk(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [customer_story("cust-quiet")[1], customer_story("cust-chatty")[1]])
        await segment_of(service, "cust-quiet", "new")
        clock.set(T0 + timedelta(days=89))
        await feed(service, platform, [customer_story("cust-chatty", at=T0 + timedelta(days=89))[1]])
        clock.set(T0 + timedelta(days=90, minutes=1))
        assert await customer_jobs.sweep(service.runtime) == 2
        quiet = await customer(service, "cust-quiet")
        assert (quiet["segment"], quiet["reasons"]) == ("churn_risk", ["no_interaction_90d"])
        # the other customer spoke up within the 90 days; past 3 months of tenure they are potential
        chatty = await customer(service, "cust-chatty")
        assert (chatty["segment"], chatty["reasons"]) == ("potential", ["no_other_segment"])
        [_, change] = await segment_changes(platform, "cust-quiet", count=2)
        assert (change["previous_segment"], change["segment"]) == ("new", "churn_risk")
        # a second sweep the same day finds nobody to look at again
        assert await customer_jobs.sweep(service.runtime) == 0


async def test_a_low_score_is_an_objection_until_its_recovery_ticket_is_resolved(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    story, created = customer_story("cust-unhappy")
    low = story.low_score(T0 + timedelta(hours=2), csat=1)
    recovery = Story(created_at=T0 + timedelta(hours=3), customer_id="cust-unhappy", channel="proactive")
    origin: dict[str, Any] = {"origin": TicketOrigin.RECOVERY, "origin_id": str(low.data.survey_id)}
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        # one after the other: on different topics, the low score could otherwise come first
        await feed(service, platform, [created])
        await segment_of(service, "cust-unhappy", "new")
        await feed(service, platform, [low])
        unhappy = await segment_of(service, "cust-unhappy", "churn_risk")
        assert unhappy["reasons"] == ["objection_open"]
        assert [(o["kind"], o["source_id"]) for o in unhappy["objections"]] == [("low_score", str(low.data.survey_id))]

        await feed(service, platform, [recovery.created(need="complaint", **origin)])
        assert (await customer(service, "cust-unhappy"))["segment"] == "churn_risk"  # not solved yet
        assert (await customer(service, "cust-unhappy"))["tickets"]["proactive"] == 1
        await feed(service, platform, [recovery.resolved(T0 + timedelta(hours=4), **origin)])
        back = await segment_of(service, "cust-unhappy", "new")
        assert back["objections"] == []
        changes = await segment_changes(platform, "cust-unhappy", count=3)
        assert [c["segment"] for c in changes] == ["new", "churn_risk", "new"]
        assert changes[1]["reasons"] == ["objection_open"]


async def test_a_complaint_ticket_is_an_objection_until_resolved(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    story, created = customer_story("cust-complains", need="complaint")
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        # told in reverse: the resolution before the ticket itself
        await feed(service, platform, [story.resolved(T0 + timedelta(hours=1))])
        await feed(service, platform, [created])
        assert (await customer(service, "cust-complains"))["segment"] == "new"
        await feed(service, platform, [story.reopened(T0 + timedelta(hours=2))])
        reopened = await segment_of(service, "cust-complains", "churn_risk")
        assert reopened["objections"][0]["kind"] == "complaint"


@pytest.mark.slow
async def test_care_contacts_fall_due_once_each_across_a_restart_and_resolving_one_completes_it(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    database = await new_database("retrospective")
    async with retrospective(platform, database, clock) as service:
        await feed(service, platform, [customer_story("cust-care")[1]])
        await segment_of(service, "cust-care", "new")
        clock.set(T0 + timedelta(days=1, minutes=1))
        [first] = await care_tasks(platform, "cust-care", count=1)
        assert {k: v for k, v in first.items() if k != "task_id"} == {
            "customer_id": "cust-care",
            "kind": "cadence",
            "rule": "cadence:new",
            "segment": "new",
            "category": "other",
            "preferred_channel": "phone",
            "due_at": "2026-11-24T09:00:00Z",
            "attempt": 1,
        }
    clock.set(T0 + timedelta(days=2, minutes=1))  # while retrospective is down
    async with retrospective(platform, database, clock) as service:
        tasks = await care_tasks(platform, "cust-care", count=2)
        assert [t["due_at"] for t in tasks] == ["2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"]

        # intake opened a care ticket for the first task; it is resolved (told before its creation)
        care_ticket = Story(created_at=T0 + timedelta(days=1, minutes=2), customer_id="cust-care", channel="proactive")
        origin: dict[str, Any] = {"origin": TicketOrigin.CARE, "origin_id": first["task_id"]}
        await feed(service, platform, [care_ticket.resolved(T0 + timedelta(days=1, hours=1), **origin)])
        await feed(service, platform, [care_ticket.created(need="information", **origin)])
        body = await customer(service, "cust-care")
        by_id = {t["task_id"]: t for t in body["care"]["tasks"]}
        assert by_id[first["task_id"]]["completed_at"] == "2026-11-24T10:00:00Z"
        assert by_id[first["task_id"]]["ticket_id"] == str(care_ticket.ticket_id)
        assert by_id[tasks[1]["task_id"]]["completed_at"] is None
        # a care ticket is not the customer's interaction
        assert body["last_interaction_at"] == "2026-11-23T09:00:00Z"
        assert body["tickets"]["proactive"] == 1
        assert len(await emitted(platform, "care", "care.task_due.v1", "cust-care")) == 2


async def test_a_churn_risk_is_contacted_twice_a_week(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    story, created = customer_story("cust-risk", customer_since=date(2020, 1, 1))
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [created, story.low_score(T0, csat=1)])
        await segment_of(service, "cust-risk", "churn_risk")
        clock.set(T0 + timedelta(days=3, hours=13))
        [task] = await care_tasks(platform, "cust-risk", count=1)
        assert (task["rule"], task["segment"], task["due_at"]) == (
            "cadence:churn_risk",
            "churn_risk",
            "2026-11-26T21:00:00Z",
        )
        body = await customer(service, "cust-risk")
        assert body["care"]["schedule"]["next_due_at"] == "2026-11-30T09:00:00Z"


@pytest.mark.slow
async def test_an_anticipation_rule_fires_once_per_matching_customer(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    rule = {"name": "30 days in", "anchor": "first_seen", "offset_days": 30, "category": "account", "segments": ["new"]}
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        r = await service.client.put(
            "/v1/care-rules/thirty-days", json=rule, headers={**admin_headers(), "If-None-Match": "*"}
        )
        assert r.status_code == 201, r.text
        await feed(
            service,
            platform,
            [
                customer_story("cust-a")[1],
                customer_story("cust-b", at=T0 + timedelta(hours=1))[1],
                customer_story("cust-loyal", customer_since=date(2020, 1, 1))[1],  # high_value: not for this rule
            ],
        )
        await segment_of(service, "cust-loyal", "high_value")
        clock.set(T0 + timedelta(days=30, minutes=30))
        [a] = await care_tasks(platform, "cust-a", count=1, kind="anticipation")
        assert (a["rule"], a["category"], a["segment"], a["due_at"]) == (
            "thirty-days",
            "account",
            "new",
            "2026-12-23T09:00:00Z",
        )
        assert await emitted(platform, "care", "care.task_due.v1", "cust-b") == [] or all(
            t["kind"] == "cadence" for t in await emitted(platform, "care", "care.task_due.v1", "cust-b")
        )
        clock.set(T0 + timedelta(days=31))
        await care_tasks(platform, "cust-b", count=1, kind="anticipation")
        clock.set(T0 + timedelta(days=40))
        await care_tasks(platform, "cust-a", count=2, kind="cadence")  # the timer has run since
        for customer_id in ("cust-a", "cust-b"):
            found = await emitted(platform, "care", "care.task_due.v1", customer_id)
            assert len([t for t in found if t["kind"] == "anticipation"]) == 1, customer_id
        loyal = await emitted(platform, "care", "care.task_due.v1", "cust-loyal")
        assert [t for t in loyal if t["kind"] == "anticipation"] == []


async def test_customer_endpoints_page_filter_and_refuse_what_they_cannot_answer(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(
            service,
            platform,
            [
                customer_story("cust-p1")[1],
                customer_story("cust-p2")[1],
                customer_story("cust-p3", customer_since=date(2020, 1, 1))[1],
            ],
        )
        await segment_of(service, "cust-p3", "high_value")
        client, staff = service.client, admin_headers()

        r = await client.get("/v1/customers/nobody", headers=staff)
        assert r.status_code == 404
        assert r.json()["error"] == {
            "code": "customer_not_found",
            "message": "no customer 'nobody' is known",
            "details": {"customer_id": "nobody"},
        }
        assert (await client.get("/v1/customers/cust-p1")).status_code == 401

        page = (await client.get("/v1/customers", params={"limit": 2}, headers=staff)).json()
        assert ([c["customer_id"] for c in page["items"]], page["next_after"]) == (["cust-p1", "cust-p2"], "cust-p2")
        rest = (await client.get("/v1/customers", params={"limit": 2, "after": "cust-p2"}, headers=staff)).json()
        assert ([c["customer_id"] for c in rest["items"]], rest["next_after"]) == (["cust-p3"], None)
        new = (await client.get("/v1/customers", params={"segment": "new"}, headers=staff)).json()
        assert [c["customer_id"] for c in new["items"]] == ["cust-p1", "cust-p2"]
        for bad in ({"segment": "vip"}, {"limit": 0}, {"limit": 201}, {"after": ""}):
            r = await client.get("/v1/customers", params=bad, headers=staff)
            assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error"), bad

        clock.set(T0 + timedelta(days=21))  # the first 30 days of the new customers are over
        segments = (await client.get("/v1/segments", params={"weeks": 2}, headers=staff)).json()
        assert segments["counts"] == {"new": 2, "high_value": 1, "churn_risk": 0, "potential": 0}
        assert [(w["week"], w["ends_at"], w["counts"]["new"]) for w in segments["trend"]] == [
            ("2026-W49", "2026-12-07T00:00:00Z", 2),
            ("2026-W50", "2026-12-14T00:00:00Z", 2),
        ]
        goals = segments["goals"]
        assert goals["new_activation_pct"] | {"definition": None} == {
            "definition": None,
            "value": 100.0,
            "target": 80.0,
            "met": True,
            "cohort": 2,
            "reached": 2,
        }
        assert goals["high_value_satisfaction"]["value"] is None
        assert (goals["churn_risk_recovery_pct"]["cohort"], goals["churn_risk_recovery_pct"]["value"]) == (0, None)
        for weeks in (0, 53):
            r = await client.get("/v1/segments", params={"weeks": weeks}, headers=staff)
            assert r.status_code == 422


async def test_care_rules_are_kept_by_admins_read_by_staff_and_validated(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    rule = {"name": "After the first order", "anchor": "customer_since", "offset_days": 7}
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        client, admin, staff = service.client, admin_headers(), agent_headers()
        create = {**admin, "If-None-Match": "*"}
        r = await client.put("/v1/care-rules/week-one", json=rule, headers=staff)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "admin_required")
        r = await client.put("/v1/care-rules/week-one", json=rule, headers=admin)  # create or replace? say which
        assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
        r = await client.put("/v1/care-rules/week-one", json=rule, headers=create)
        assert r.status_code == 201 and r.headers["ETag"] == '"1"', r.text
        assert r.json() | {"updated_at": None} == {
            "id": "week-one",
            "name": "After the first order",
            "anchor": "customer_since",
            "offset_days": 7,
            "category": "other",
            "segments": [],
            "active_from": "2026-11-23T09:00:00Z",
            "updated_at": None,
            "updated_by": "admin-test",
            "version": 1,
        }
        r = await client.put("/v1/care-rules/week-one", json=rule, headers=create)  # it exists now
        assert (r.status_code, r.json()["error"]["code"]) == (412, "care_rule_changed")
        replace = {**rule, "segments": ["new", "potential"]}
        r = await client.put("/v1/care-rules/week-one", json=replace, headers={**admin, "If-Match": '"1"'})
        assert (r.status_code, r.json()["segments"], r.headers["ETag"]) == (200, ["new", "potential"], '"2"')
        r = await client.put("/v1/care-rules/week-one", json=rule, headers={**admin, "If-Match": '"1"'})  # stale
        assert (r.status_code, r.json()["error"]["code"]) == (412, "care_rule_changed")
        listed = (await client.get("/v1/care-rules", headers=staff)).json()["items"]
        assert [x["id"] for x in listed] == ["week-one"]
        assert (await client.get("/v1/care-rules/week-one", headers=staff)).json()["segments"] == ["new", "potential"]

        bad_bodies = [
            ({**rule, "anchor": "birthday"}, ["body", "anchor"]),
            ({**rule, "offset_days": -1}, ["body", "offset_days"]),
            ({**rule, "offset_days": 3651}, ["body", "offset_days"]),
            ({**rule, "category": "weather"}, ["body", "category"]),
            ({**rule, "segments": ["new", "new"]}, ["body", "segments"]),
            ({**rule, "segments": ["vip"]}, ["body", "segments", 0]),
            ({**rule, "name": ""}, ["body", "name"]),
            ({**rule, "surprise": True}, ["body", "surprise"]),
            ({"name": "no anchor", "offset_days": 3}, ["body", "anchor"]),
        ]
        for body, loc in bad_bodies:
            r = await client.put("/v1/care-rules/other", json=body, headers=create)
            assert r.status_code == 422, body
            assert r.json()["error"]["details"][0]["loc"] == loc, body
        r = await client.put("/v1/care-rules/Bad%20Id", json=rule, headers=create)
        assert (r.status_code, r.json()["error"]["details"][0]["loc"]) == (422, ["path", "rule_id"])

        r = await client.delete("/v1/care-rules/week-one", headers=staff)
        assert r.status_code == 403
        r = await client.delete("/v1/care-rules/week-one", headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
        r = await client.delete("/v1/care-rules/week-one", headers={**admin, "If-Match": '"1"'})
        assert (r.status_code, r.json()["error"]["code"]) == (412, "care_rule_changed")
        assert (await client.delete("/v1/care-rules/week-one", headers={**admin, "If-Match": '"2"'})).status_code == 204
        for method in ("get", "delete"):
            r = await client.request(method, "/v1/care-rules/week-one", headers={**admin, "If-Match": '"2"'})
            assert (r.status_code, r.json()["error"]["code"]) == (404, "care_rule_not_found")

        # Every change is in retrospective's audit log, newest first.
        audit = await client.get("/v1/audit", params={"subject": "care_rule:week-one"}, headers=admin)
        assert [(e["action"], e["actor"]) for e in audit.json()["items"]] == [
            ("care_rule.deleted", "admin-test"),
            ("care_rule.replaced", "admin-test"),
            ("care_rule.created", "admin-test"),
        ]
        assert (await client.get("/v1/audit", headers=staff)).status_code == 403


async def test_with_intake_a_due_care_contact_becomes_a_proactive_ticket(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    """The loop closed for care: a customer reports a problem in intake, retrospective makes them
    new and their first daily contact falls due, intake opens the proactive care ticket for it."""

    intake_settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with (
        serve(create_intake(intake_settings, clock=clock)) as intake,
        retrospective(platform, await new_database("retrospective"), clock) as service,
    ):
        person = {"id": "cust-loop", "name": "Jane Doe", "customer_since": "2026-11-13", "preferred_channel": "phone"}
        r = await intake.client.post("/v1/tickets", json=create_ticket_body(customer=person), headers=channel_headers())
        assert r.status_code == 201, r.text
        # the loop knows the customer by the pseudonym intake announces (staff search by either)
        known_as = pseudonym_in(intake, "cust-loop")
        await segment_of(service, known_as, "new")
        clock.set(T0 + timedelta(days=1, minutes=1))
        [task] = await care_tasks(platform, known_as, count=1)

        async def care_ticket() -> dict[str, Any] | None:
            r = await intake.client.get(
                "/v1/tickets", params={"customer_id": "cust-loop", "channel": "proactive"}, headers=admin_headers()
            )
            items: list[dict[str, Any]] = r.json()["items"]
            return items[0] if items else None

        opened = await eventually(care_ticket)
        full = (await intake.client.get(f"/v1/tickets/{opened['id']}", headers=admin_headers())).json()
        assert (full["origin"], full["origin_id"]) == ("care", task["task_id"])
        assert full["customer"]["preferred_channel"] == "phone"
        # retrospective learns of the care ticket: the loop's own, not the customer's interaction
        assert await eventually(lambda: _proactive_count(service, known_as)) == 1


async def _proactive_count(service: RunningService, customer_id: str) -> int:
    return int((await customer(service, customer_id))["tickets"]["proactive"])


async def test_a_run_deciding_several_customers_writes_what_deciding_them_one_by_one_does(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    # Two copies of the same customers: the "one" copy's tickets applied one event at a time,
    # the "run" copy's in one run; the segments, their history (with its reasons, in order),
    # the care schedules and the announcements must be the same.
    def created(copy: str) -> list[Any]:
        # (everyone who spends spends the same: all of them are in the top spend, however many
        # spends are known when the line is drawn)
        return [
            customer_story(f"{copy}-new")[1],
            customer_story(f"{copy}-old", customer_since=date(2020, 1, 6), annual_spend=900.0)[1],
            customer_story(f"{copy}-anon", customer_since=None, customer_preferred_channel=None)[1],
            customer_story(f"{copy}-spender", at=T0 - timedelta(hours=1), annual_spend=900.0)[1],
        ]

    database = await new_database("retrospective")
    async with retrospective(platform, database, clock, top_spend_min_customers=1) as service:
        for event in created("one"):
            async with service.runtime.unit_of_work() as uow:
                await on_loop_events(uow, [event])
        async with service.runtime.unit_of_work() as uow:
            await on_loop_events(uow, created("run"))

        async def state(copy: str) -> dict[str, list[tuple[Any, ...]]]:
            queries = {
                "customers": "SELECT customer_id, segment, segment_reasons, segment_since FROM customers"
                " WHERE customer_id LIKE :c ORDER BY customer_id",
                "history": "SELECT customer_id, segment, previous_segment, reasons, changed_at FROM segment_history"
                " WHERE customer_id LIKE :c ORDER BY id",
                "care": "SELECT customer_id, segment, planned_at, next_due_at FROM care_schedules"
                " WHERE customer_id LIKE :c ORDER BY customer_id",
                "announced": "SELECT key, event_type, (CAST(payload AS jsonb) -> 'data') - 'customer_id' FROM outbox"
                " WHERE key LIKE :c ORDER BY seq",
            }
            async with service.runtime.engine.connect() as conn:
                found: dict[str, list[tuple[Any, ...]]] = {}
                for name, sql in queries.items():
                    rows = await conn.execute(text(sql), {"c": f"{copy}-%"})
                    found[name] = [
                        tuple(v.removeprefix(f"{copy}-") if isinstance(v, str) else v for v in r) for r in rows
                    ]
                return found

        one, run = await state("one"), await state("run")
        assert run == one
        # (each customer's own reasons, one or two, in the customers and in their history)
        assert [(c, s, r) for c, s, r, _ in run["customers"]] == [
            ("anon", "new", ["tenure_under_3m"]),
            ("new", "new", ["tenure_under_3m"]),
            ("old", "high_value", ["top_20pct_spend", "tenure_over_12m"]),
            ("spender", "high_value", ["top_20pct_spend"]),
        ]
        assert [(c, s, r) for c, s, _, r, _ in run["history"]] == [
            ("new", "new", ["tenure_under_3m"]),
            ("old", "high_value", ["top_20pct_spend", "tenure_over_12m"]),
            ("anon", "new", ["tenure_under_3m"]),
            ("spender", "high_value", ["top_20pct_spend"]),
        ]
        assert [c for c, *_ in run["announced"]] == ["new", "old", "anon", "spender"]
