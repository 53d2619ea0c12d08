"""routing's handling rules on a real database, broker and HTTP: strategies, capacity and the
priority queue, presence and the away sweep, account managers, re-evaluation events, SLA
escalation, the reasons it gives, and who may do what."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.builders import T0, Story
from tests.support import RunningService, admin_headers, agent_headers, eventually, publish, read_events, serve
from ticketloop_routing.app import create_app
from ticketloop_routing.assignments import scheduled
from ticketloop_routing.customers.models import CustomerSegment
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import ClockKind, EscalationTarget, Topics
from ticketloop_shared.settings import PlatformSettings

START = T0 + timedelta(minutes=1)

ORG: dict[str, Any] = {
    "fallback_department": "desk",
    "departments": [
        {"id": "desk", "name": "Front desk", "supervisor": "sup-desk", "default_capacity": 1},
        {"id": "tech", "name": "Technical", "strategy": "skills"},
        {"id": "rota", "name": "Rota", "strategy": "round_robin"},
    ],
    "agents": [
        {"id": "desk-1", "name": "Desk One", "department": "desk"},
        {"id": "desk-2", "name": "Desk Two", "department": "desk"},
        {"id": "tech-fr", "name": "Tech Fr", "department": "tech", "skills": ["language:fr"]},
        {"id": "tech-de", "name": "Tech De", "department": "tech", "skills": ["language:de", "refunds"]},
        {"id": "rota-1", "name": "Rota One", "department": "rota"},
        {"id": "rota-2", "name": "Rota Two", "department": "rota"},
    ],
    "categories": {"billing": "desk", "product_quality": "tech", "logistics_delay": "rota"},
}


def organisation(**changes: Any) -> dict[str, Any]:
    """The test organisation, with top-level `changes`."""
    return {**copy.deepcopy(ORG), **changes}


def uncapped() -> dict[str, Any]:
    """The test organisation without the front desk's capacity."""
    org = organisation()
    org["departments"][0].pop("default_capacity")
    return org


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def routing(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[RunningService]:
    settings = RoutingSettings(database_url=await new_database("routing"), platform=platform, away_sweep_seconds=3600)
    async with serve(create_app(settings, clock=clock)) as running:
        r = await put_organisation(running, ORG)
        assert r.status_code == 200, r.text
        yield running


async def put_organisation(routing: RunningService, org: dict[str, Any]) -> Any:
    etag = (await routing.client.get("/v1/organisation", headers=agent_headers())).headers["ETag"]
    return await routing.client.put("/v1/organisation", json=org, headers={**admin_headers(), "If-Match": etag})


async def assignment(routing: RunningService, ticket_id: object) -> dict[str, Any] | None:
    r = await routing.client.get(f"/v1/assignments/{ticket_id}", headers=admin_headers())
    return r.json() if r.status_code == 200 else None


async def until(routing: RunningService, story: Story, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The ticket's assignment once `check` holds for it."""

    async def probe() -> dict[str, Any] | None:
        got = await assignment(routing, story.ticket_id)
        return got if got is not None and check(got) else None

    result: dict[str, Any] = await eventually(probe)
    return result


def owned_by(agent: str | None) -> Callable[[dict[str, Any]], bool]:
    return lambda a: a["state"] == "assigned" and a["agent_id"] == agent


def queued(a: dict[str, Any]) -> bool:
    return bool(a["state"] == "queued")


async def created(routing: RunningService, platform: PlatformSettings, story: Story, **extra: Any) -> dict[str, Any]:
    """Publish the story's `ticket.created` and wait until routing has decided."""
    await publish(platform, story.created(**extra))
    return await until(routing, story, lambda a: a["state"] in ("assigned", "queued"))


async def announced(routing: RunningService, platform: PlatformSettings, story: Story, segment: str) -> None:
    """retrospective announces the story's customer's segment (`customer.segment_changed`, the
    one place routing learns it from); wait until routing holds it."""
    await publish(platform, story.segment_changed(T0, segment=segment))

    async def held() -> bool:
        async with routing.runtime.sessions() as session:
            row = await session.get(CustomerSegment, story.customer_id)
        return row is not None and row.segment == segment

    await eventually(held)


async def events(platform: PlatformSettings, kind: str, story: Story, *, count: int = 1) -> list[dict[str, Any]]:
    """The `kind` events routing emitted about the story's ticket (at least `count`)."""
    topic = Topics(platform.topic_prefix).for_family("ticket")

    async def probe() -> list[dict[str, Any]] | None:
        found = [
            e
            for e in await read_events(platform, topic, count=100_000, timeout=0.5)
            if e["type"] == f"ticket.{kind}.v1" and e["subject"] == str(story.ticket_id)
        ]
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await eventually(probe)
    return result


async def agents(routing: RunningService) -> dict[str, dict[str, Any]]:
    r = await routing.client.get("/v1/agents", headers=admin_headers())
    return {a["id"]: a for a in r.json()}


async def queue(routing: RunningService, department: str) -> dict[str, Any]:
    """The department's queue, as an agent of that department sees it."""
    r = await routing.client.get(f"/v1/queues?department_id={department}", headers=agent_headers(department=department))
    [found] = r.json()
    assert found["department_id"] == department
    return dict(found)


async def set_presence(
    routing: RunningService, agent: str, presence: str, headers: dict[str, str] | None = None
) -> Any:
    headers = headers or agent_headers(agent, department="desk")
    return await routing.client.put(f"/v1/agents/{agent}/presence", json={"presence": presence}, headers=headers)


async def desk_full(routing: RunningService, platform: PlatformSettings) -> list[Story]:
    """Both front-desk agents at their capacity of one."""
    stories = [Story(), Story()]
    for story in stories:
        await created(routing, platform, story)
    owners = {(await assignment(routing, s.ticket_id) or {}).get("agent_id") for s in stories}
    assert owners == {"desk-1", "desk-2"}
    return stories


# --- strategies ------------------------------------------------------------------------------


async def test_round_robin_rotates_even_when_everyone_is_idle(
    routing: RunningService, platform: PlatformSettings
) -> None:
    owners = []
    for i in range(3):
        story = Story(category="logistics_delay")
        got = await created(routing, platform, story)
        owners.append(got["agent_id"])
        assert got["reason"]["strategy"] == "round_robin"
        await publish(platform, story.resolved(START + timedelta(minutes=i + 1)))
        await until(routing, story, lambda a: a["state"] == "closed")
    assert owners == ["rota-1", "rota-2", "rota-1"]  # least-loaded would have said rota-1 each time


async def test_skills_are_respected_and_without_a_skilled_agent_the_ticket_waits(
    routing: RunningService, platform: PlatformSettings
) -> None:
    skilled = Story(category="product_quality")
    got = await created(routing, platform, skilled, required_skills=["refunds"])
    assert got["agent_id"] == "tech-de"
    assert got["reason"]["rule"].startswith("skills")

    nobody = Story(category="product_quality")
    got = await created(routing, platform, nobody, required_skills=["language:es"])
    assert got["state"] == "queued" and got["agent_id"] is None
    [event] = await events(platform, "queued", nobody)
    assert event["data"]["department_id"] == "tech"
    why = {c["agent_id"]: c["why_not"] for c in event["data"]["reason"]["candidates"]}
    assert why == {"tech-de": "missing_skills:language:es", "tech-fr": "missing_skills:language:es"}
    tech = await queue(routing, "tech")
    assert [t["ticket_id"] for t in tech["tickets"]] == [str(nobody.ticket_id)]


# --- capacity and the queue ------------------------------------------------------------------


async def test_at_capacity_tickets_wait_and_freed_capacity_goes_to_the_best_one_first(
    routing: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    first, _ = await desk_full(routing, platform)
    normal, vip = Story(customer_id="cust-normal"), Story(customer_id="cust-vip")
    await announced(routing, platform, normal, "potential")
    await announced(routing, platform, vip, "high_value")
    await created(routing, platform, normal)
    await created(routing, platform, vip)
    [event] = await events(platform, "queued", vip)
    assert event["data"]["reason"]["rule"].startswith("queued")
    assert {c["why_not"] for c in event["data"]["reason"]["candidates"]} == {"at_capacity"}

    clock.set(START + timedelta(minutes=5))
    desk = await queue(routing, "desk")
    assert desk["waiting"] == 2
    assert [t["ticket_id"] for t in desk["tickets"]] == [str(vip.ticket_id), str(normal.ticket_id)]
    assert [t["score"] for t in desk["tickets"]] == [65.0, 5.0]  # high-value 60 + 5 minutes waited
    assert desk["tickets"][0]["waited_seconds"] == 300.0

    owner = (await assignment(routing, first.ticket_id) or {})["agent_id"]
    await publish(platform, first.resolved(START + timedelta(minutes=5)))
    got = await until(routing, vip, owned_by(owner))
    assert (await assignment(routing, normal.ticket_id) or {})["state"] == "queued"
    [assigned] = await events(platform, "assigned", vip)
    reason = assigned["data"]["reason"]
    assert reason["waited_seconds"] == 300.0 and reason["score"] == 65.0
    assert assigned["data"]["agent_id"] == owner
    assert [h["decision"] for h in got["history"]] == ["queued"]


async def test_raising_capacity_in_the_organisation_gives_out_waiting_tickets(
    routing: RunningService, platform: PlatformSettings
) -> None:
    await desk_full(routing, platform)
    waiting = Story()
    await created(routing, platform, waiting)
    org = organisation()
    org["departments"][0]["default_capacity"] = 2
    assert (await put_organisation(routing, org)).status_code == 200
    got = await until(routing, waiting, lambda a: a["state"] == "assigned")
    assert got["agent_id"] in {"desk-1", "desk-2"}


# --- presence --------------------------------------------------------------------------------


async def test_an_away_agent_gets_nothing_and_everyone_away_means_waiting(
    routing: RunningService, platform: PlatformSettings
) -> None:
    r = await set_presence(routing, "desk-1", "away")
    assert r.status_code == 200 and r.json()["presence"] == "away"
    story = Story()
    assert (await created(routing, platform, story))["agent_id"] == "desk-2"
    listed = await agents(routing)
    assert (listed["desk-1"]["presence"], listed["desk-2"]["open_tickets"], listed["desk-2"]["capacity"]) == (
        "away",
        1,
        1,
    )

    await set_presence(routing, "desk-2", "offline")
    await publish(platform, story.resolved(START + timedelta(minutes=2)))
    waiting = Story()
    got = await created(routing, platform, waiting)
    assert got["state"] == "queued"  # not a dead letter: it waits for someone
    assert {c["why_not"] for c in got["reason"]["candidates"]} == {"away", "offline"}

    await set_presence(routing, "desk-2", "available")
    await until(routing, waiting, owned_by("desk-2"))


async def test_who_may_set_an_agents_presence(routing: RunningService) -> None:
    other_agent = await set_presence(routing, "desk-1", "away", agent_headers("desk-2", department="desk"))
    assert (other_agent.status_code, other_agent.json()["error"]["code"]) == (403, "presence_not_own")
    foreign = agent_headers("sup-tech", Role.SUPERVISOR, department="tech")
    other_department = await set_presence(routing, "desk-1", "away", foreign)
    assert (other_department.status_code, other_department.json()["error"]["code"]) == (
        403,
        "presence_other_department",
    )
    notifier = await set_presence(routing, "desk-1", "away", agent_headers("mailer", Role.NOTIFIER))
    assert (notifier.status_code, notifier.json()["error"]["code"]) == (403, "staff_required")

    supervisor = agent_headers("sup-desk", Role.SUPERVISOR, department="desk")
    assert (await set_presence(routing, "desk-1", "away", supervisor)).status_code == 200
    assert (await set_presence(routing, "desk-1", "offline", admin_headers())).status_code == 200
    assert (await set_presence(routing, "desk-1", "available")).status_code == 200
    unknown = await set_presence(routing, "nobody", "away", admin_headers())
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "agent_not_found")
    bad = await set_presence(routing, "desk-1", "asleep")
    assert bad.status_code == 422


async def test_an_away_agents_untouched_tickets_move_after_the_delay_touched_ones_stay(
    routing: RunningService, platform: PlatformSettings, clock: FrozenClock
) -> None:
    assert (await put_organisation(routing, uncapped())).status_code == 200
    untouched, other, touched = Story(), Story(), Story()
    for story, owner in ((untouched, "desk-1"), (other, "desk-2"), (touched, "desk-1")):
        assert (await created(routing, platform, story))["agent_id"] == owner
    # the builders' reply is by agent-1: tell it as desk-1's
    reply = touched.replied(START + timedelta(seconds=30))
    reply = reply.model_copy(update={"data": reply.data.model_copy(update={"agent_id": "desk-1"})})
    await publish(platform, reply)
    await until(routing, touched, lambda a: a["touched_at"] is not None)

    clock.set(START + timedelta(minutes=1))
    await set_presence(routing, "desk-1", "away")
    clock.set(START + timedelta(minutes=10))
    assert (await scheduled.reassign_away(routing.runtime)).done == 0  # not away long enough yet

    clock.set(START + timedelta(minutes=16))
    assert (await scheduled.reassign_away(routing.runtime)).done == 1
    got = await until(routing, untouched, owned_by("desk-2"))
    assert got["reason"]["rule"].startswith("away_reassign: desk-1 has been away")
    assert (await assignment(routing, touched.ticket_id) or {})["agent_id"] == "desk-1"
    [moved] = await events(platform, "reassigned", untouched)
    assert (moved["data"]["previous_agent_id"], moved["data"]["agent_id"]) == ("desk-1", "desk-2")
    assert (await agents(routing))["desk-1"]["open_tickets"] == 1


# --- account managers ------------------------------------------------------------------------


async def test_a_high_value_customer_goes_to_their_account_manager(
    routing: RunningService, platform: PlatformSettings
) -> None:
    vip = Story(customer_id="cust-vip")
    url = "/v1/account-managers/cust-vip"
    first = {**admin_headers(), "If-None-Match": "*"}
    assert (await routing.client.put(url, json={"agent_id": "desk-2"}, headers=agent_headers())).status_code == 403
    unknown = await routing.client.put(url, json={"agent_id": "ghost"}, headers=first)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_agent")
    missing = await routing.client.put(url, json={"agent_id": "desk-2"}, headers=admin_headers())
    assert (missing.status_code, missing.json()["error"]["code"]) == (428, "if_match_required")
    r = await routing.client.put(url, json={"agent_id": "desk-2"}, headers=first)
    assert r.status_code == 201 and r.json()["agent_id"] == "desk-2" and r.headers["ETag"] == '"1"'
    twice = await routing.client.put(url, json={"agent_id": "desk-1"}, headers=first)
    assert (twice.status_code, twice.json()["error"]["code"]) == (412, "account_manager_changed")
    assert twice.json()["error"]["details"]["current_etag"] == '"1"'
    replaced = await routing.client.put(
        url, json={"agent_id": "desk-2"}, headers={**admin_headers(), "If-Match": '"1"'}
    )
    assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"2"')
    read = await routing.client.get(url, headers=admin_headers())
    assert (read.json()["agent_id"], read.json()["version"], read.headers["ETag"]) == ("desk-2", 2, '"2"')
    page = (await routing.client.get("/v1/account-managers", headers=agent_headers(department="desk"))).json()
    assert (page["total"], page["items"][0]["customer_id"]) == (1, "cust-vip")

    await announced(routing, platform, vip, "high_value")
    got = await created(routing, platform, vip)
    assert got["agent_id"] == "desk-2"  # least-loaded would have picked desk-1
    assert got["reason"]["rule"].startswith("account_manager")
    assert got["segment"] == "high_value"

    # desk-2 is at capacity now: the customer's next ticket goes by the department's rule
    again = Story(customer_id="cust-vip")
    assert (await created(routing, platform, again))["agent_id"] == "desk-1"

    stale = await routing.client.delete(url, headers={**admin_headers(), "If-Match": '"1"'})
    assert (stale.status_code, stale.json()["error"]["code"]) == (412, "account_manager_changed")
    assert (await routing.client.delete(url, headers={**admin_headers(), "If-Match": '"2"'})).status_code == 204
    gone = await routing.client.delete(url, headers={**admin_headers(), "If-Match": '"2"'})
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "account_manager_not_found")


async def test_an_announced_segment_ranks_the_customers_next_ticket(
    routing: RunningService, platform: PlatformSettings
) -> None:
    """retrospective's `customer.segment_changed` is the only source of a customer's segment:
    before any announcement the customer ranks as new (routing's documented default, whatever
    the ticket says about spend or tenure); a customer who crossed into high-value is served
    first and by their account manager from the next ticket on, and a churn-risk customer is
    ranked as one."""
    before = await created(
        routing,
        platform,
        Story(customer_id="cust-rising"),
        customer_annual_spend=1_000_000.0,
        customer_since=date(2020, 1, 1),
    )
    assert before["segment"] == "new"
    r = await routing.client.put(
        "/v1/account-managers/cust-rising",
        json={"agent_id": "desk-2"},
        headers={**admin_headers(), "If-None-Match": "*"},
    )
    assert r.status_code == 201
    rising = Story(customer_id="cust-rising")
    await publish(platform, rising.segment_changed(T0 + timedelta(hours=1), segment="high_value"))
    # An older announcement arriving late does not undo the newer one.
    await publish(platform, rising.segment_changed(T0, segment="new"))
    at_risk = Story(customer_id="cust-leaving")
    await publish(platform, at_risk.segment_changed(T0, segment="churn_risk"))
    expected = {"cust-rising": ("high_value", T0 + timedelta(hours=1)), "cust-leaving": ("churn_risk", T0)}
    await eventually(lambda: recorded_segments(routing, expected))

    after = await created(routing, platform, Story(customer_id="cust-rising"))
    assert after["segment"] == "high_value" and after["score"] > before["score"]
    assert after["agent_id"] == "desk-2" and after["reason"]["rule"].startswith("account_manager")
    churn = await created(routing, platform, Story(customer_id="cust-leaving"))
    assert churn["segment"] == "churn_risk" and churn["score"] > before["score"]


async def recorded_segments(routing: RunningService, expected: dict[str, tuple[str, Any]]) -> bool:
    """Whether routing holds exactly these customers' segments (the late older one ignored)."""
    async with routing.runtime.sessions() as session:
        rows = (await session.execute(select(CustomerSegment))).scalars().all()
    return {r.customer_id: (r.segment, r.changed_at) for r in rows} == expected


# --- re-evaluation ---------------------------------------------------------------------------


async def test_a_priority_change_re_scores_a_waiting_ticket(
    routing: RunningService, platform: PlatformSettings
) -> None:
    await desk_full(routing, platform)
    first, second = Story(), Story()
    await created(routing, platform, first)
    await created(routing, platform, second)
    await publish(platform, second.priority_changed(START + timedelta(minutes=1), urgency="critical"))
    await until(routing, second, lambda a: a["urgency"] == "critical")
    desk = await queue(routing, "desk")
    # critical 100; both customers unannounced, so ranked as new: 20 (`customers.domain.UNANNOUNCED`)
    assert [(t["ticket_id"], t["score"]) for t in desk["tickets"]] == [
        (str(second.ticket_id), 120.0),
        (str(first.ticket_id), 20.0),
    ]


async def test_a_recategorised_ticket_moves_to_the_new_department(
    routing: RunningService, platform: PlatformSettings
) -> None:
    story = Story()
    assert (await created(routing, platform, story))["agent_id"] == "desk-1"
    await publish(platform, story.recategorised(START + timedelta(minutes=1), category="logistics_delay"))
    got = await until(routing, story, owned_by("rota-1"))
    assert got["department_id"] == "rota" and got["reason"]["rule"].startswith("recategorised: billing")
    [moved] = await events(platform, "reassigned", story)
    assert (moved["data"]["previous_agent_id"], moved["data"]["department_id"]) == ("desk-1", "rota")
    assert (await agents(routing))["desk-1"]["open_tickets"] == 0


async def test_a_reopened_ticket_goes_back_to_its_owner_or_else_by_the_rule(
    routing: RunningService, platform: PlatformSettings
) -> None:
    story = Story()
    assert (await created(routing, platform, story))["agent_id"] == "desk-1"
    await publish(platform, story.resolved(START + timedelta(minutes=5)))
    await until(routing, story, lambda a: a["state"] == "closed")
    await publish(platform, story.reopened(START + timedelta(minutes=6)))
    got = await until(routing, story, owned_by("desk-1"))
    assert got["reason"]["rule"].startswith("previous_owner")
    assert (await agents(routing))["desk-1"]["open_tickets"] == 1

    await publish(platform, story.resolved(START + timedelta(minutes=7)))
    await until(routing, story, lambda a: a["state"] == "closed")
    await set_presence(routing, "desk-1", "away")
    await publish(platform, story.reopened(START + timedelta(minutes=8)))
    await until(routing, story, owned_by("desk-2"))
    [moved] = await events(platform, "reassigned", story)
    assert moved["data"]["previous_agent_id"] == "desk-1"


async def test_a_close_without_resolve_frees_the_owner(routing: RunningService, platform: PlatformSettings) -> None:
    story = Story()
    await created(routing, platform, story)
    await publish(platform, story.closed(START + timedelta(minutes=5), resolved_at=START))
    await until(routing, story, lambda a: a["state"] == "closed")
    assert (await agents(routing))["desk-1"]["open_tickets"] == 0


async def test_a_late_ticket_created_after_its_resolve_is_not_assigned(
    routing: RunningService, platform: PlatformSettings
) -> None:
    story = Story()
    await publish(platform, story.resolved(START), story.created())
    got = await until(routing, story, lambda a: a["ticket_number"] is not None)
    assert (got["state"], got["agent_id"]) == ("closed", None)
    assert {a["open_tickets"] for a in (await agents(routing)).values()} == {0}


# --- SLA breaches ----------------------------------------------------------------------------


async def test_a_supervisor_escalation_step_hands_an_assigned_ticket_to_the_supervisor(
    routing: RunningService, platform: PlatformSettings
) -> None:
    story = Story()
    await created(routing, platform, story)
    at = START + timedelta(hours=2)
    await publish(
        platform,
        story.breached(ClockKind.RESOLUTION, at),
        story.escalated(ClockKind.RESOLUTION, at, level=1, notify=EscalationTarget.ASSIGNEE),
    )
    await publish(platform, story.escalated(ClockKind.RESOLUTION, at))
    got = await until(routing, story, owned_by("sup-desk"))
    assert got["reason"]["rule"].startswith("sla_escalation: the resolution deadline was breached")
    assert [h["agent_id"] for h in got["history"]] == ["desk-1"]
    [escalated] = await events(platform, "reassigned", story)
    assert (escalated["data"]["previous_agent_id"], escalated["data"]["agent_name"]) == ("desk-1", "sup-desk")
    assert (await agents(routing))["desk-1"]["open_tickets"] == 0


async def test_an_escalation_without_a_supervisor_leaves_the_owner(
    routing: RunningService, platform: PlatformSettings
) -> None:
    story, marker = Story(category="logistics_delay"), Story(category="logistics_delay")
    await created(routing, platform, story)
    await publish(platform, story.escalated(ClockKind.RESOLUTION, START + timedelta(hours=2)), marker.created())
    await until(routing, marker, lambda a: a["state"] == "assigned")
    assert (await assignment(routing, story.ticket_id) or {})["agent_id"] == "rota-1"


async def test_a_breach_lifts_a_waiting_ticket_up_its_queue(
    routing: RunningService, platform: PlatformSettings
) -> None:
    await desk_full(routing, platform)
    first, late = Story(), Story()
    await created(routing, platform, first)
    await created(routing, platform, late)
    await publish(platform, late.breached(ClockKind.FIRST_RESPONSE, START + timedelta(minutes=15)))
    await until(routing, late, lambda a: a["score"] == 70.0)  # a breach 50, an unannounced customer 20
    [desk] = (await routing.client.get("/v1/queues", headers=admin_headers())).json()[:1]
    assert desk["department_id"] == "desk"
    assert [t["ticket_id"] for t in desk["tickets"]] == [str(late.ticket_id), str(first.ticket_id)]


# --- the organisation and who may read ------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"agents": [{"id": "x", "name": "X", "department": "desk", "capacity": 0}]},
        {"agents": [{"id": "x", "name": "X", "department": "desk", "skills": ["Bad Skill"]}]},
        {"departments": [{"id": "desk", "name": "Desk", "strategy": "random"}]},
        {"departments": [{"id": "desk", "name": "Desk", "default_capacity": 0}]},
    ],
)
async def test_a_bad_organisation_is_refused(routing: RunningService, change: dict[str, Any]) -> None:
    org = organisation(**change)
    org["categories"] = {}
    org["fallback_department"] = "desk"
    if "agents" not in change:
        org["agents"] = [{"id": "x", "name": "X", "department": "desk"}]
    if "departments" not in change:
        org["departments"] = [{"id": "desk", "name": "Desk"}]
    r = await put_organisation(routing, org)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "validation_error")


async def test_an_unknown_supervisor_is_fine_it_is_a_staff_id(routing: RunningService) -> None:
    org = organisation()
    org["departments"][1]["supervisor"] = "someone-not-an-agent"
    r = await put_organisation(routing, org)
    assert r.status_code == 200
    assert {d["id"]: d["supervisor"] for d in r.json()["departments"]}["tech"] == "someone-not-an-agent"


async def test_reading_routing_needs_staff(routing: RunningService) -> None:
    notifier = agent_headers("mailer", Role.NOTIFIER)
    for path in ("/v1/queues", "/v1/agents", "/v1/account-managers"):
        r = await routing.client.get(path, headers=notifier)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "staff_required"), path
