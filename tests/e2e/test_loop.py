"""The whole loop over real HTTP: the five services as separate processes, started by the same
supervisor code as `make run`, on embedded PostgreSQL and the Tansu broker."""

from __future__ import annotations

import uuid
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
    # and care's timer looks for due contacts every second, not every 30
    with running_stack(
        "ticketloop-e2e-",
        TICKETLOOP_SLA_BREACH_CHECK_SECONDS="1",
        TICKETLOOP_FEEDBACK_TICKET_SURVEY_DELAY_MINUTES="0",
        TICKETLOOP_RETROSPECTIVE_CARE_TIMER_MAX_IDLE_SECONDS="1",
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


async def test_the_review_counts_an_order_a_care_task_and_a_recovery_ticket_where_each_belongs(stack: Stack) -> None:
    """SPEC §5 and §4: an order makes a care task due (anticipation), the care task is worked and
    completed with its outcome, a low score opens a recovery ticket; the weekly report counts the
    customer's own problem as a problem, the care task and the recovery ticket apart from it."""
    intake, retrospective = url(stack, "intake"), url(stack, "retrospective")
    customer = f"c-loop-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=30) as http:
        # an admin asks for a delivery check on the day of each order
        r = await http.put(
            f"{retrospective}/v1/care-rules/delivery-check",
            json={"name": "Delivery check", "anchor": "order", "offset_days": 0, "category": "logistics_delay"},
            headers={**admin_headers(), "If-None-Match": "*"},
        )
        assert r.status_code == 201, r.text

        # the shop reports an order
        ordered_at = datetime.now(UTC).isoformat()
        order = {"order_id": f"o-{uuid.uuid4().hex[:8]}", "customer_id": customer, "amount": "129.90"}
        r = await http.post(
            f"{intake}/v1/orders",
            json={**order, "currency": "EUR", "ordered_at": ordered_at},
            headers=channel_headers(),
        )
        assert r.status_code == 201, r.text
        pseudonym = r.json()["customer_id"]  # what every service but intake knows the customer by

        async def tickets_of(origin: str) -> list[dict[str, Any]] | None:
            body = await get_json(http, f"{intake}/v1/tickets", params={"customer_id": customer, "origin": origin})
            return body["items"] if body and body["items"] else None

        async def owned(ticket_id: str) -> dict[str, Any] | None:
            t = await get_json(http, f"{intake}/v1/tickets/{ticket_id}")
            return t if t and t["assignee"] else None

        # retrospective makes the care task due; intake files it, routing gives it an owner
        [care] = await eventually(lambda: tickets_of("care"), timeout=40)
        care = await eventually(lambda: owned(care["id"]))
        assert care["due_at"] is not None and care["category"] == "logistics_delay"
        owner = agent_headers(care["assignee"]["agent_id"], department=care["assignee"]["department_id"])
        resolve = f"{intake}/v1/tickets/{care['id']}/resolve"
        r = await http.post(resolve, json={"resolution": "Delivered"}, headers=owner)
        assert r.status_code == 422, r.text  # a care task is completed with its outcome
        r = await http.post(
            resolve, json={"resolution": "Parcel arrived, customer happy", "outcome": "reached"}, headers=owner
        )
        assert r.status_code == 200, r.text
        # a care task runs no customer-response clocks
        body = await get_json(http, f"{url(stack, 'sla')}/v1/tickets/{care['id']}/sla")
        assert body is None or body["clocks"] == []

        # the same customer reports a problem of their own, it is resolved, they answer with a low score
        r = await http.post(
            f"{intake}/v1/tickets",
            json=create_ticket_body(category="account", customer={"id": customer, "name": "Ana"}),
            headers=channel_headers(),
        )
        assert r.status_code == 201, r.text
        problem = await eventually(lambda: owned(r.json()["id"]))
        r = await http.post(
            f"{intake}/v1/tickets/{problem['id']}/resolve",
            json={"resolution": "Password reset"},
            headers=admin_headers(),
        )
        assert r.status_code == 200, r.text

        async def survey() -> Any:
            s = await get_json(http, f"{url(stack, 'feedback')}/v1/tickets/{problem['id']}/survey")
            return s if s and s["status"] == "open" else None

        sent = await eventually(survey, timeout=40)
        notifier = agent_headers("mailer", Role.NOTIFIER)
        deliveries = await http.get(f"{url(stack, 'feedback')}/v1/survey-deliveries", headers=notifier)
        [link] = [d["link"] for d in deliveries.json()["items"] if d["survey_id"] == sent["id"]]
        r = await http.post(f"{url(stack, 'feedback')}/v1/surveys/{link.rsplit('/', 1)[-1]}", json={"csat": 1})
        assert r.status_code == 201, r.text
        [recovery] = await eventually(lambda: tickets_of("recovery"), timeout=40)
        assert recovery["category"] == "account"

        # the weekly report: per category, so the other tests' tickets on this stack stay out
        year, week, _ = datetime.now(UTC).isocalendar()

        async def weekly(category: str) -> Any:
            return await get_json(
                http, f"{retrospective}/v1/reports/weekly", params={"week": f"{year}-W{week:02d}", "category": category}
            )

        async def counted() -> tuple[Any, Any] | None:
            account, logistics = await weekly("account"), await weekly("logistics_delay")
            if not account or not logistics:
                return None
            done = logistics["proactive"]["care"]["outcomes"] and account["proactive"]["recovery"]["opened"]
            return (account, logistics) if done else None

        account, logistics = await eventually(counted, timeout=40)
        # the customer's own problem is the one problem of its category; the recovery ticket is not
        assert (account["tickets_opened"], account["tickets_resolved"]) == (1, 1)
        assert account["proactive"]["recovery"]["opened"] == 1
        assert account["proactive"]["care"]["made"] == 0
        # the care task is no problem: counted made, completed, reached
        assert logistics["tickets_opened"] == 0
        assert logistics["proactive"]["care"] == {"made": 1, "completed": 1, "outcomes": {"reached": 1}}
        assert logistics["categories"] == []

        # the order made the customer known to the customer model, with the spend it reported
        profile = await get_json(http, f"{retrospective}/v1/customers/{pseudonym}")
        assert profile is not None and profile["annual_spend"] == 129.9
