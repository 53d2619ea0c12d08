"""Department scoping, swept: with the five services running, a ticket lands in one department
(finance) and is resolved; then EVERY staff read of EVERY service — enumerated from each
service's own OpenAPI document, so a new endpoint is swept without anyone remembering to add it,
plus the review dashboard's pages — is called with an agent token of another department
(technical). None may show the ticket's id, number or customer: a 403 or a list without it are
both fine. Admin-only endpoints answer the agent 403 anyway. An admin, on the same calls, does see
the ticket (the sweep would notice a leak)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from tests.support import (
    TEST_SECRET,
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    pseudonym_in,
    serve,
)
from ticketloop_feedback.app import create_app as create_feedback
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_retrospective.app import create_app as create_retrospective
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings

pytestmark = pytest.mark.slow

HOME = "/dashboard"  # the review dashboard: HTML pages outside the OpenAPI document
A, B = "finance", "technical"  # billing tickets go to finance (routing's default organisation)

# Routing's own reads are scoped on branch `routing-actions`: until it lands, these leak on this
# branch and are tolerated here (and only these). Delete the set once it has landed.


@dataclass(frozen=True)
class Landed:
    """The ticket of department A the sweep looks for."""

    ticket_id: str
    number: str
    customer_id: str

    def found_in(self, body: str) -> list[str]:
        """Which of the ticket's identifiers the body shows."""
        return [v for v in (self.ticket_id, self.number, self.customer_id) if v in body]


@pytest.fixture
async def stack(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[dict[str, RunningService]]:
    settings: dict[str, Any] = {
        "intake": IntakeSettings(database_url=await new_database("intake"), platform=platform),
        "routing": RoutingSettings(database_url=await new_database("routing"), platform=platform),
        "sla": SlaSettings(database_url=await new_database("sla"), platform=platform),
        "feedback": FeedbackSettings(database_url=await new_database("feedback"), platform=platform),
        "retrospective": RetrospectiveSettings(database_url=await new_database("retrospective"), platform=platform),
    }
    factories: dict[str, Callable[[Any], FastAPI]] = {
        "intake": create_intake,
        "routing": create_routing,
        "sla": create_sla,
        "feedback": create_feedback,
        "retrospective": create_retrospective,
    }
    async with AsyncExitStack() as running:
        yield {name: await running.enter_async_context(serve(factories[name](settings[name]))) for name in settings}


async def land_a_ticket(stack: dict[str, RunningService]) -> Landed:
    """A billing ticket, routed to finance, answered and resolved; every service has heard of it."""
    intake, sla, feedback, retro = stack["intake"], stack["sla"], stack["feedback"], stack["retrospective"]
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    r = await intake.client.post(
        "/v1/tickets",
        json=create_ticket_body(category="billing", customer={"id": customer, "name": "Ada Sweep"}),
        headers=channel_headers(),
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    tid = ticket["id"]

    async def routed() -> bool:
        got = (await intake.client.get(f"/v1/tickets/{tid}", headers=admin_headers())).json()
        return bool((got.get("assignee") or {}).get("department_id") == A)

    await eventually(routed)
    for path, body in (
        (f"/v1/tickets/{tid}/replies", {"body": "Refunded."}),
        (f"/v1/tickets/{tid}/resolve", {"resolution": "Refunded the second charge."}),
    ):
        r = await intake.client.post(path, json=body, headers=admin_headers())
        assert r.status_code in (200, 201), r.text

    filed_as = pseudonym_in(intake, customer)  # what leaves intake: the pseudonym

    async def known_everywhere() -> bool:
        clocks = await sla.client.get(f"/v1/tickets/{tid}/sla", headers=admin_headers())
        survey = await feedback.client.get(f"/v1/tickets/{tid}/survey", headers=admin_headers())
        profile = await retro.client.get(f"/v1/customers/{filed_as}", headers=admin_headers())
        return (
            clocks.status_code == 200
            and clocks.json()["department_id"] == A
            and survey.status_code == 200
            and profile.status_code == 200
            and profile.json()["tickets"]["opened"] >= 1
        )

    await eventually(known_everywhere, timeout=40)
    # feedback learns the department from routing's event: the ticket's department's agent reads it.
    r = await feedback.client.get(f"/v1/tickets/{tid}/survey", headers=agent_headers("agent-fin-1", department=A))
    assert r.status_code == 200, r.text
    return Landed(ticket_id=tid, number=ticket["number"], customer_id=filed_as)


def _fill(service: str, path: str, params: list[dict[str, Any]], landed: Landed) -> tuple[str, dict[str, str]]:
    """The URL and query of a GET with every path parameter pointing at A's ticket, customer or
    department, and every required query parameter given a valid value."""
    now = datetime.now(UTC)
    week = f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"
    path_values = {
        "ticket_id": landed.ticket_id,
        "customer_id": landed.customer_id,
        "number": landed.number,
        "department_id": A,
        "department": A,
    }
    query_values = {
        "week": week,
        "month": now.strftime("%Y-%m"),
        "period": week,
        "metric": "tickets_opened",
        "q": "charged twice",
    }
    query: dict[str, str] = {}
    for p in params:
        name = p["name"]
        if p["in"] == "path":
            value = path_values.get(name, str(uuid.uuid4()))
            path = path.replace("{" + name + "}", value)
        elif p["in"] == "query" and p.get("required"):
            assert name in query_values, f"{service} GET {path}: teach the sweep a value for `{name}`"
            query[name] = query_values[name]
    assert "{" not in path, path
    return path, query


def staff_reads(app: FastAPI) -> list[tuple[str, list[dict[str, Any]], set[str]]]:
    """Every GET of the service's OpenAPI document that takes a bearer token (staff or notifier),
    with its parameters and the names of its query parameters."""
    doc = app.openapi()
    bearer = {n for n, s in doc.get("components", {}).get("securitySchemes", {}).items() if s.get("scheme") == "bearer"}
    found = []
    for path, operations in doc["paths"].items():
        get = operations.get("get")
        if get is None or not any(bearer & set(req) for req in get.get("security", [])):
            continue
        params = get.get("parameters", [])
        found.append((path, params, {p["name"] for p in params if p["in"] == "query"}))
    return found


async def test_another_departments_agent_reads_nothing_of_a_ticket_anywhere(
    stack: dict[str, RunningService],
) -> None:
    landed = await land_a_ticket(stack)
    other = agent_headers("agent-tech-1", department=B)
    other_supervisor = agent_headers("sup-tech", Role.SUPERVISOR, department=B)
    leaks: dict[tuple[str, str], str] = {}
    admin_saw: set[tuple[str, str]] = set()
    swept = 0
    for service, running in stack.items():
        for template, params, queries in staff_reads(running.app):
            path, query = _fill(service, template, params, landed)
            for headers in (other, other_supervisor):
                r = await running.client.get(path, params=query, headers=headers)
                swept += 1
                # 422: an id the sweep made up for a record that is not a ticket, customer or department.
                assert r.status_code in (200, 403, 404, 422), f"{service} GET {path}: {r.status_code} {r.text[:300]}"
                if shown := landed.found_in(r.text):
                    leaks[(service, template)] = f"{r.status_code} shows {shown}"
                # Asking for A's department by name is refused, not answered with an empty page.
                for name in {"department", "department_id"} & queries:
                    asked = await running.client.get(path, params={**query, name: A}, headers=headers)
                    answer = asked.json()
                    code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
                    if (asked.status_code, code) != (403, "not_your_department"):
                        leaks[(service, template)] = f"?{name}={A} answered {asked.status_code}"
            if landed.found_in((await running.client.get(path, params=query, headers=admin_headers())).text):
                admin_saw.add((service, template))

    # The review dashboard's pages (HTML and CSV), with the token in the header as the API takes it.
    retro = stack["retrospective"]
    now = datetime.now(UTC)
    period = f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"
    for page in (HOME, f"{HOME}/tickets", f"{HOME}/tickets.csv"):
        query = {"period": period, "metric": "tickets_opened"}
        r = await retro.client.get(page, params=query, headers=other)
        assert r.status_code == 200, f"GET {page}: {r.status_code}"
        if shown := landed.found_in(r.text):
            leaks[("retrospective", page)] = f"{r.status_code} shows {shown}"
        asked = await retro.client.get(page, params={**query, "department": A}, headers=other)
        assert asked.status_code == 403, f"GET {page}?department={A}: {asked.status_code}"
        if landed.found_in((await retro.client.get(page, params=query, headers=admin_headers())).text):
            admin_saw.add(("retrospective", page))

    assert swept > 40, f"only {swept} calls: the OpenAPI enumeration found too little"
    assert not leaks, f"another department's agent reads the ticket: {leaks}"
    # The sweep would see a leak: an admin, on the same calls, sees the ticket in each service.
    assert {s for s, _ in admin_saw} >= {"intake", "sla", "feedback", "retrospective"}, admin_saw
    assert {("sla", "/v1/tickets/{ticket_id}/sla"), ("retrospective", f"{HOME}/tickets.csv")} <= admin_saw


async def test_the_departments_own_staff_and_admins_see_its_ticket(stack: dict[str, RunningService]) -> None:
    landed = await land_a_ticket(stack)
    tid, customer = landed.ticket_id, landed.customer_id
    now = datetime.now(UTC)
    week = f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"
    reads = [
        ("sla", f"/v1/tickets/{tid}/sla", {}),
        ("feedback", f"/v1/tickets/{tid}/survey", {}),
        ("feedback", "/v1/surveys", {"customer_id": customer}),
        ("retrospective", f"/v1/customers/{customer}", {}),
        ("retrospective", "/v1/customers", {}),
        ("retrospective", "/v1/reports/tickets", {"period": week, "metric": "tickets_opened"}),
        ("retrospective", "/v1/reports/tickets", {"period": week, "metric": "tickets_opened", "department": A}),
    ]
    for headers in (
        agent_headers("agent-fin-1", department=A),
        agent_headers("sup-fin", Role.SUPERVISOR, department=A),
        admin_headers(),
    ):
        for service, path, query in reads:
            r = await stack[service].client.get(path, params=query, headers=headers)
            assert r.status_code == 200, f"{service} GET {path}: {r.text[:300]}"
            assert landed.found_in(r.text), f"{service} GET {path} does not show the ticket to its department"
    # The department's report counts it; another department's counts nothing of it.
    retro = stack["retrospective"]
    mine = await retro.client.get("/v1/reports/weekly", params={"week": week}, headers=agent_headers(department=A))
    theirs = await retro.client.get("/v1/reports/weekly", params={"week": week}, headers=agent_headers(department=B))
    assert (mine.json()["filters"]["department"], theirs.json()["filters"]["department"]) == (A, B)
    assert (mine.json()["tickets_opened"], theirs.json()["tickets_opened"]) == (1, 0)
    # A token of a department role without its department is refused by every service.
    claims = jwt.decode(agent_headers(department=A)["Authorization"].split()[1], options={"verify_signature": False})
    del claims["department"]  # as a hand-made or older token would be
    bare = {"Authorization": f"Bearer {jwt.encode(claims, TEST_SECRET, algorithm='HS256')}"}
    for service, path, query in reads[:5]:
        r = await stack[service].client.get(path, params=query, headers=bare)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "department_required"), f"{service} GET {path}"
