"""routing assigns every new ticket to an agent of the department owning its category."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.builders import create_ticket_created, create_ticket_resolved
from tests.support import RunningService, admin_headers, agent_headers, eventually, publish, read_events, serve
from ticketloop_routing.app import create_app
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings


@pytest.fixture
async def routing(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = RoutingSettings(database_url=await new_database("routing"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


async def assignment(routing: RunningService, ticket_id: object) -> dict[str, Any] | None:
    r = await routing.client.get(f"/v1/assignments/{ticket_id}", headers=admin_headers())
    return r.json() if r.status_code == 200 and r.json()["agent_id"] else None


async def test_new_ticket_goes_to_the_department_owning_its_category(
    routing: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created(category="billing")
    await publish(platform, created)
    got = await eventually(lambda: assignment(routing, created.data.ticket_id))
    assert (got["department_id"], got["agent_id"]) == ("finance", "agent-fin-1")

    events = await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=2)
    [assigned] = [e for e in events if e["type"] == "ticket.assigned.v1"]
    assert assigned["subject"] == str(created.data.ticket_id)
    assert assigned["data"]["agent_name"] == "Ravi Iyer"
    assert assigned["causation_id"] == str(created.id)
    assert assigned["correlation_id"] == str(created.data.ticket_id)


async def test_load_is_spread_over_the_department(routing: RunningService, platform: PlatformSettings) -> None:
    first, second = create_ticket_created(category="product_quality"), create_ticket_created(category="product_quality")
    await publish(platform, first, second)
    a = await eventually(lambda: assignment(routing, first.data.ticket_id))
    b = await eventually(lambda: assignment(routing, second.data.ticket_id))
    assert {a["agent_id"], b["agent_id"]} == {"agent-tech-1", "agent-tech-2"}


async def test_unmapped_category_goes_to_the_fallback_department(
    routing: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created(category="something_new")
    await publish(platform, created)
    got = await eventually(lambda: assignment(routing, created.data.ticket_id))
    assert got["department_id"] == "after_sales"


async def test_a_redelivered_ticket_created_assigns_once(routing: RunningService, platform: PlatformSettings) -> None:
    created = create_ticket_created()
    await publish(platform, created, created)
    marker = create_ticket_created()
    await publish(platform, marker)
    await eventually(lambda: assignment(routing, marker.data.ticket_id))
    events = await read_events(platform, Topics(platform.topic_prefix).for_family("ticket"), count=5, timeout=3)
    assigned = [e for e in events if e["type"] == "ticket.assigned.v1"]
    assert sorted(e["subject"] for e in assigned) == sorted([created.subject, marker.subject])


async def test_a_ticket_resolved_before_routing_saw_it_is_not_assigned(
    routing: RunningService, platform: PlatformSettings
) -> None:
    created = create_ticket_created()
    await publish(platform, create_ticket_resolved(created), created)
    marker = create_ticket_created()
    await publish(platform, marker)
    await eventually(lambda: assignment(routing, marker.data.ticket_id))
    r = await routing.client.get(f"/v1/assignments/{created.data.ticket_id}", headers=admin_headers())
    assert r.json()["agent_id"] is None and r.json()["closed_at"] is not None


async def test_resolving_frees_the_agent(routing: RunningService, platform: PlatformSettings) -> None:
    created = create_ticket_created(category="billing")
    await publish(platform, created)
    await eventually(lambda: assignment(routing, created.data.ticket_id))

    async def open_tickets() -> int:
        agents = (await routing.client.get("/v1/agents?department_id=finance", headers=admin_headers())).json()
        return int(agents[0]["open_tickets"])

    assert await open_tickets() == 1
    await publish(platform, create_ticket_resolved(created))
    await eventually(lambda: _is_zero(open_tickets()))


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def put_organisation(routing: RunningService, org: dict[str, Any], headers: dict[str, str]) -> Any:
    """PUT over the version just read, as a careful client does."""
    etag = (await routing.client.get("/v1/organisation", headers=agent_headers())).headers["ETag"]
    return await routing.client.put("/v1/organisation", json=org, headers={**headers, "If-Match": etag})


async def test_admin_replaces_the_organisation_and_routing_follows(
    routing: RunningService, platform: PlatformSettings
) -> None:
    org = {
        "fallback_department": "desk",
        "departments": [{"id": "desk", "name": "Front desk"}],
        "agents": [{"id": "solo", "name": "Solo Agent", "department": "desk"}],
        "categories": {"billing": "desk"},
    }
    assert (await put_organisation(routing, org, agent_headers())).status_code == 403
    r = await put_organisation(routing, org, admin_headers())
    assert r.status_code == 200, r.text
    created = create_ticket_created(category="billing")
    await publish(platform, created)
    got = await eventually(lambda: assignment(routing, created.data.ticket_id))
    assert got["agent_id"] == "solo"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"categories": {"billing": "nowhere"}}, "unknown department"),
        ({"fallback_department": "nowhere"}, "fallback_department"),
        ({"agents": [{"id": "x", "name": "X", "department": "nowhere"}]}, "unknown department"),
        (
            {"agents": [{"id": "x", "name": "X", "department": "after_sales"}], "categories": {"billing": "finance"}},
            "no active agent",
        ),
    ],
)
async def test_an_inconsistent_organisation_is_refused_whole(
    routing: RunningService, change: dict[str, object], fragment: str
) -> None:
    before = (await routing.client.get("/v1/organisation", headers=agent_headers())).json()
    org = {**before, **change}
    r = await put_organisation(routing, org, admin_headers())
    assert r.status_code == 422
    assert fragment in str(r.json()["error"]["details"])
    assert (await routing.client.get("/v1/organisation", headers=agent_headers())).json() == before


async def test_replicas_starting_together_seed_the_organisation_once(
    new_database: Callable[[str], Awaitable[str]],
) -> None:
    import asyncio

    from sqlalchemy import func, select

    from ticketloop_routing.organisation.models import Department
    from ticketloop_routing.organisation.service import load_if_empty
    from ticketloop_shared.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(await new_database("routing"))
    sessions = make_sessionmaker(engine)
    path = RoutingSettings().organisation_file

    async def start() -> bool:
        async with transaction(sessions) as session:
            return await load_if_empty(session, path)

    try:
        seeded = await asyncio.gather(*(start() for _ in range(4)))
        assert sorted(seeded) == [False, False, False, True]
        async with sessions() as session:
            assert (await session.scalar(select(func.count()).select_from(Department)) or 0) > 0
    finally:
        await engine.dispose()
