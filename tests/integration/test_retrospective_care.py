"""Care as care (issue 22, item 2), over real HTTP, PostgreSQL and broker: a care contact is
completed with an outcome; a customer who answered has interacted (a churn risk by silence is no
longer one); unanswered attempts are tried again, backing off, and stop after the configured
number, recorded `unreachable`; a resolution told twice records its outcome once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tests.builders import Story
from tests.integration.test_retrospective_customers import (
    T0,
    NewDatabase,
    care_tasks,
    clock,
    customer,
    customer_story,
    emitted,
    feed,
    retrospective,
    segment_of,
)
from tests.support import eventually
from ticketloop_retrospective.customers import scheduled as customer_jobs
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import CareOutcome, Envelope, TicketOrigin
from ticketloop_shared.settings import PlatformSettings

__all__ = ["clock"]  # the test clock fixture, shared with the customers' tests


def care_ticket(task: dict[str, Any], *, at: datetime) -> tuple[Story, dict[str, Any], Envelope]:
    """The proactive ticket intake opens for `task`, its origin fields, and its `ticket.created`."""
    story = Story(created_at=at, customer_id=task["customer_id"], channel="proactive", category="other")
    origin: dict[str, Any] = {"origin": TicketOrigin.CARE, "origin_id": task["task_id"]}
    return story, origin, story.created(need="information", due_at=task["due_at"], **origin)


async def complete(
    service: Any, platform: PlatformSettings, task: dict[str, Any], outcome: CareOutcome, *, at: datetime
) -> Envelope:
    """Open and resolve the care ticket of `task` with `outcome` at `at`; the resolution."""
    story, origin, created = care_ticket(task, at=at - timedelta(minutes=30))
    resolved = story.resolved(at, outcome=outcome, **origin)
    await feed(service, platform, [created, resolved])
    return resolved


def tasks_by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in body["care"]["tasks"]}


async def test_a_care_contact_that_reached_the_customer_counts_as_an_interaction(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    """SPEC §5: churn risk is a customer with no interaction for 90 days; a care contact that
    reached them is an interaction, so they are no longer a churn risk by silence."""
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [customer_story("cust-silent")[1]])
        await segment_of(service, "cust-silent", "new")
        clock.set(T0 + timedelta(days=90, minutes=1))
        await customer_jobs.sweep(service.runtime)
        silent = await segment_of(service, "cust-silent", "churn_risk")
        assert silent["reasons"] == ["no_interaction_90d"]
        clock.set(T0 + timedelta(days=93, hours=22))  # the churn-risk cadence: 3.5 days on

        async def churn_risk_contact() -> list[Any] | None:
            found = await emitted(platform, "care", "care.task_due.v1", "cust-silent")
            return [t for t in found if t["rule"] == "cadence:churn_risk"] or None

        risk = await eventually(churn_risk_contact)
        reached_at = T0 + timedelta(days=93, hours=23)
        await complete(service, platform, risk[0], CareOutcome.REACHED, at=reached_at)
        answered = await segment_of(service, "cust-silent", "potential")
        assert answered["last_interaction_at"] == reached_at.isoformat().replace("+00:00", "Z")
        assert tasks_by_id(answered)[risk[0]["task_id"]]["outcome"] == "reached"
        # reached: nothing more is made due for that contact
        assert [t for t in await emitted(platform, "care", "care.task_due.v1", "cust-silent") if t["attempt"] > 1] == []


async def test_three_unanswered_attempts_back_off_then_stop_as_unreachable(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [customer_story("cust-away")[1]])
        await segment_of(service, "cust-away", "new")
        clock.set(T0 + timedelta(days=1, minutes=1))
        [first] = await care_tasks(platform, "cust-away", count=1)
        assert first["attempt"] == 1
        at1 = T0 + timedelta(days=1, hours=1)
        await complete(service, platform, first, CareOutcome.NO_ANSWER, at=at1)

        async def retry(attempt: int) -> dict[str, Any] | None:
            found = [
                t for t in await emitted(platform, "care", "care.task_due.v1", "cust-away") if t["attempt"] == attempt
            ]
            return found[0] if found else None

        second = await eventually(lambda: retry(2))
        assert (second["rule"], second["kind"]) == (first["rule"], first["kind"])
        assert second["due_at"] == (at1 + timedelta(days=1)).isoformat().replace("+00:00", "Z")  # 1 day on
        at2 = at1 + timedelta(days=1, hours=1)
        await complete(service, platform, second, CareOutcome.NO_ANSWER, at=at2)
        third = await eventually(lambda: retry(3))
        assert third["due_at"] == (at2 + timedelta(days=2)).isoformat().replace("+00:00", "Z")  # 2 days on
        at3 = at2 + timedelta(days=2, hours=1)
        await complete(service, platform, third, CareOutcome.NO_ANSWER, at=at3)

        body = await customer(service, "cust-away")
        by_id = tasks_by_id(body)
        assert [by_id[t["task_id"]]["outcome"] for t in (first, second, third)] == [
            "no_answer",
            "no_answer",
            "unreachable",
        ]
        assert [by_id[t["task_id"]]["attempt"] for t in (first, second, third)] == [1, 2, 3]
        # stopped: no fourth attempt; an unanswered call is no interaction
        assert await retry(4) is None
        assert body["last_interaction_at"] == "2026-11-23T09:00:00Z"


async def test_a_resolution_told_twice_records_its_outcome_once(
    platform: PlatformSettings, new_database: NewDatabase, clock: FrozenClock
) -> None:
    async with retrospective(platform, await new_database("retrospective"), clock) as service:
        await feed(service, platform, [customer_story("cust-twice")[1]])
        await segment_of(service, "cust-twice", "new")
        clock.set(T0 + timedelta(days=1, minutes=1))
        [first] = await care_tasks(platform, "cust-twice", count=1)
        resolved = await complete(service, platform, first, CareOutcome.FOLLOW_UP, at=T0 + timedelta(days=1, hours=1))
        # redelivered as it was, and re-emitted under a new id (a replay): still one completion
        await feed(service, platform, [resolved, resolved.model_copy(update={"id": uuid.uuid4()})])
        follow_ups = [
            t
            for t in await emitted(platform, "care", "care.task_due.v1", "cust-twice")
            if t["due_at"] != first["due_at"]
        ]
        assert len(follow_ups) == 1
        # follow-up needed: a new contact a week on (the default), a first attempt of its own
        assert (follow_ups[0]["attempt"], follow_ups[0]["due_at"]) == (1, "2026-12-01T10:00:00Z")
        body = await customer(service, "cust-twice")
        assert tasks_by_id(body)[first["task_id"]]["outcome"] == "follow_up"
        assert body["last_interaction_at"] == "2026-11-24T10:00:00Z"  # the customer answered
