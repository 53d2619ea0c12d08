"""The whole loop over real HTTP: the five services as separate processes, started by the same
supervisor code as `make run`, on embedded PostgreSQL and the Tansu broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support import (
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    running_stack,
)
from ticketloop_embedded.stack import Stack
from ticketloop_shared.auth import Role

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-stacks")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # the ticket survey goes out at resolution instead of two hours later
    with running_stack(
        "ticketloop-e2e-", TICKETLOOP_SLA_BREACH_CHECK_SECONDS="1", TICKETLOOP_FEEDBACK_TICKET_SURVEY_DELAY_MINUTES="0"
    ) as running:
        yield running


def url(stack: Stack, service: str) -> str:
    return stack.services[service].url


async def get_json(client: httpx.AsyncClient, address: str, **kwargs: Any) -> Any:
    r = await client.get(address, headers=admin_headers(), **kwargs)
    return r.json() if r.status_code == 200 else None


async def test_one_ticket_goes_round_the_whole_loop(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        # intake: a channel reports a problem
        r = await http.post(
            f"{url(stack, 'intake')}/v1/tickets",
            json=create_ticket_body(category="billing"),
            headers=channel_headers(**{"Idempotency-Key": "e2e-1"}),
        )
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
        ticket_url = f"{url(stack, 'intake')}/v1/tickets/{ticket_id}"
        # the 201 carries the deadlines that apply (issue 20); this channel has no webhook
        # subscription, so reading its ticket back is the acknowledgement reaching it
        assert r.json()["deadlines"]["acknowledgement_due"] is not None
        r = await http.get(f"{url(stack, 'intake')}/v1/channel/tickets/{ticket_id}", headers=channel_headers())
        assert r.status_code == 200, r.text

        # routing assigns it to finance; intake shows the owner
        async def assigned() -> Any:
            t = await get_json(http, ticket_url)
            return t if t and t["assignee"] else None

        ticket = await eventually(assigned)
        assert ticket["assignee"]["department_id"] == "finance"
        assert ticket["status"] == "in_progress"

        # sla runs the clocks of every promise made at the report
        sla_url = f"{url(stack, 'sla')}/v1/tickets/{ticket_id}/sla"

        async def clocks() -> dict[str, Any] | None:
            body = await get_json(http, sla_url)
            return {c["clock"]: c for c in body["clocks"]} if body else None

        running = await eventually(clocks)
        assert {"acknowledgement", "first_response", "plan", "resolution", "periodic_update"} <= set(running)
        assert running["first_response"]["status"] == running["resolution"]["status"] == "running"

        # an agent replies and resolves
        agent = agent_headers(ticket["assignee"]["agent_id"], department=ticket["assignee"]["department_id"])
        r = await http.post(f"{ticket_url}/replies", json={"body": "We are refunding you."}, headers=agent)
        assert r.status_code == 201, r.text
        r = await http.post(f"{ticket_url}/resolve", json={"resolution": "Refunded"}, headers=agent)
        assert r.status_code == 200, r.text

        async def resolved() -> dict[str, Any] | None:
            c = await clocks()
            return c if c and c["resolution"]["status"] == "met" and "follow_up" in c else None

        ended = await eventually(resolved)
        assert ended["first_response"]["status"] == ended["plan"]["status"] == "met"
        assert ended["periodic_update"]["status"] == "cancelled"  # no update owed once resolved
        assert ended["follow_up"]["status"] == "running"  # the post-resolution visit is owed

        # feedback sends a survey (at once: the delay is 0 here); the delivery system fetches its
        # link (staff never see it) and the customer answers it without logging in
        async def survey_sent() -> Any:
            s = await get_json(http, f"{url(stack, 'feedback')}/v1/tickets/{ticket_id}/survey")
            return s if s and s["status"] == "open" else None

        survey = await eventually(survey_sent)
        assert "link" not in survey
        notifier = agent_headers("mailer", Role.NOTIFIER)
        deliveries = await http.get(f"{url(stack, 'feedback')}/v1/survey-deliveries", headers=notifier)
        [link] = [d["link"] for d in deliveries.json()["items"] if d["survey_id"] == survey["id"]]
        token = link.rsplit("/", 1)[-1]
        survey_url = f"{url(stack, 'feedback')}/v1/surveys/{token}"
        assert (await http.get(survey_url)).json()["status"] == "open"
        r = await http.post(survey_url, json={"csat": 5, "comment": "Quick and kind"})
        assert r.status_code == 201, r.text
        assert (await http.post(survey_url, json={"csat": 1})).status_code == 409

        # retrospective's weekly report counts it with the right figures
        year, week, _ = datetime.now(UTC).isocalendar()
        report_url = f"{url(stack, 'retrospective')}/v1/reports/weekly"

        async def report() -> Any:
            body = await get_json(http, report_url, params={"week": f"{year}-W{week:02d}"})
            if not body or body["csat"]["responses"] != 1:
                return None
            met = {m["key"] for m in body["sla"]["by_metric"] if m["met"]}
            return body if {"first_response", "resolution"} <= met else None

        weekly = await eventually(report)
        assert weekly["tickets_opened"] == 1
        assert weekly["tickets_resolved"] == 1
        assert weekly["first_response"]["count"] == 1
        assert weekly["resolution_time"]["count"] == 1
        # every cycle that ended was met: acknowledgement, first response, plan and resolution
        assert (weekly["sla"]["breached"], weekly["sla"]["compliance_pct"]) == (0, 100.0)
        assert {"acknowledgement", "first_response", "resolution"} <= {m["key"] for m in weekly["sla"]["by_metric"]}
        assert weekly["csat"] == {"responses": 1, "average": 5.0, "satisfied_pct": 100.0}
        assert weekly["nps"]["responses"] == 0  # the ticket survey asks satisfaction; NPS is the relationship survey's
        assert weekly["categories"] == [
            {"category": "billing", "pain_class": "process", "tickets": 1, "share_pct": 100.0}
        ]


async def test_a_crashed_service_catches_up_on_restart_with_nothing_lost_or_doubled(stack: Stack) -> None:
    routing = stack.services["routing"]
    routing.kill()  # SIGKILL: no graceful shutdown, no offset commit on the way out
    async with httpx.AsyncClient(timeout=30) as http:
        ids = []
        for i in range(5):
            r = await http.post(
                f"{url(stack, 'intake')}/v1/tickets",
                json=create_ticket_body(category="product_quality", subject=f"crash {i}"),
                headers=channel_headers(),
            )
            assert r.status_code == 201
            ids.append(r.json()["id"])
        routing.start()
        routing.wait_ready(timeout=60)

        async def all_assigned() -> bool:
            tickets = [await get_json(http, f"{url(stack, 'intake')}/v1/tickets/{i}") for i in ids]
            return all(t and t["assignee"] for t in tickets)

        await eventually(all_assigned, timeout=40)
        for ticket_id in ids:
            t = await get_json(http, f"{url(stack, 'intake')}/v1/tickets/{ticket_id}")
            assert [e["kind"] for e in t["timeline"]].count("assigned") == 1
