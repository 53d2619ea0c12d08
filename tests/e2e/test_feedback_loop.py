"""Issue 9 end to end, the five services as separate processes: a low score opens a recovery
ticket that routing assigns; a customer crossing into high-value gets their next ticket ranked
first and a quarter-end survey scheduled."""

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
    find_in_databases,
    find_in_topics,
    running_stack,
)
from ticketloop_embedded.stack import Stack
from ticketloop_shared.auth import Role
from ticketloop_shared.events import Topics

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-stacks-2")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(
        "ticketloop-e2e-feedback-",
        TICKETLOOP_FEEDBACK_TICKET_SURVEY_DELAY_MINUTES="0",
    ) as running:
        yield running


def url(stack: Stack, service: str) -> str:
    return stack.services[service].url


async def post_ticket(http: httpx.AsyncClient, stack: Stack, key: str, customer: str, **extra: Any) -> str:
    body = create_ticket_body(category="billing", subject=key)
    body["customer"] = {**body["customer"], "id": customer, **extra}
    r = await http.post(
        f"{url(stack, 'intake')}/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": key})
    )
    assert r.status_code == 201, r.text
    ticket_id: str = r.json()["id"]
    return ticket_id


async def ticket(http: httpx.AsyncClient, stack: Stack, ticket_id: str) -> dict[str, Any]:
    r = await http.get(f"{url(stack, 'intake')}/v1/tickets/{ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def pseudonym(http: httpx.AsyncClient, stack: Stack, ticket_id: str) -> str:
    """The id every service but intake knows the ticket's customer by (what staff see)."""
    shown: str = (await ticket(http, stack, ticket_id))["customer"]["id"]
    assert shown.startswith("cus_")
    return shown


async def assigned(http: httpx.AsyncClient, stack: Stack, ticket_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        t = await ticket(http, stack, ticket_id)
        return t if t["assignee"] else None

    result: dict[str, Any] = await eventually(probe, timeout=40)
    return result


async def test_a_low_score_opens_a_recovery_ticket_that_routing_assigns(stack: Stack) -> None:
    feedback = url(stack, "feedback")
    async with httpx.AsyncClient(timeout=30) as http:
        original = await post_ticket(http, stack, "low-1", "c-unhappy")
        await assigned(http, stack, original)
        r = await http.post(
            f"{url(stack, 'intake')}/v1/tickets/{original}/resolve",
            json={"resolution": "Done"},
            headers=admin_headers(),
        )
        assert r.status_code == 200, r.text

        # the survey goes out (no delay here); the delivery system fetches its link
        async def survey() -> dict[str, Any] | None:
            r = await http.get(f"{feedback}/v1/tickets/{original}/survey", headers=admin_headers())
            return r.json() if r.status_code == 200 and r.json()["status"] == "open" else None

        sent = await eventually(survey, timeout=40)
        notifier = agent_headers("mailer", Role.NOTIFIER)
        deliveries = (await http.get(f"{feedback}/v1/survey-deliveries", headers=notifier)).json()["items"]
        [link] = [d["link"] for d in deliveries if d["survey_id"] == sent["id"]]
        token = link.rsplit("/", 1)[-1]
        r = await http.post(f"{feedback}/v1/surveys/{token}", json={"csat": 1, "comment": "Still charged twice"})
        assert r.status_code == 201, r.text

        # intake opens the recovery ticket, urgent and proactive, linked to the surveyed one
        async def recovery() -> dict[str, Any] | None:
            r = await http.get(
                f"{url(stack, 'intake')}/v1/tickets", params={"customer_id": "c-unhappy"}, headers=admin_headers()
            )
            others = [t for t in r.json()["items"] if t["id"] != original]
            return others[0] if others else None

        found = await eventually(recovery, timeout=40)
        full = await assigned(http, stack, found["id"])  # and routing assigns it
        assert (full["channel"], full["urgency"], full["origin"]) == ("proactive", "urgent", "recovery")
        assert full["linked_ticket_id"] == original and full["origin_id"] == sent["id"]
        assert full["assignee"]["department_id"] == "finance"


async def test_a_customer_crossing_into_high_value_is_served_first_and_surveyed_at_quarter_end(stack: Stack) -> None:
    routing, retrospective, feedback = url(stack, "routing"), url(stack, "retrospective"), url(stack, "feedback")
    async with httpx.AsyncClient(timeout=30) as http:
        # five customers with known spends: the top 20 % of them is the richest one
        spenders = []
        for n, spend in enumerate((100, 200, 300, 400)):
            spender = await post_ticket(http, stack, f"spend-{n}", f"c-spend-{n}", annual_spend=spend)
            spenders.append(await pseudonym(http, stack, spender))

        # ... known to the review before the fifth arrives (tickets of different customers travel
        # on different partitions: the rich one could otherwise be classified while fewer than
        # five spends were known, with no top-20 % line yet; it would then wait for the sweep)
        async def all_known() -> bool:
            for spender in spenders:
                r = await http.get(f"{retrospective}/v1/customers/{spender}", headers=admin_headers())
                if r.status_code != 200:
                    return False
            return True

        await eventually(all_known, timeout=40)
        first = await post_ticket(http, stack, "rich-1", "c-rich", annual_spend=50_000)
        rich_id = await pseudonym(http, stack, first)

        async def segment() -> dict[str, Any] | None:
            r = await http.get(f"{retrospective}/v1/customers/{rich_id}", headers=admin_headers())
            return r.json() if r.status_code == 200 and r.json()["segment"] == "high_value" else None

        rich = await eventually(segment, timeout=40)
        assert "top_20pct_spend" in rich["reasons"]

        # survey timing: a relationship survey is scheduled for the quarter's end
        async def quarterly() -> list[Any] | None:
            r = await http.get(
                f"{feedback}/v1/surveys", params={"customer_id": rich_id, "kind": "quarterly"}, headers=admin_headers()
            )
            items = r.json()["items"] if r.status_code == 200 else []
            return items or None

        [scheduled] = await eventually(quarterly, timeout=40)
        now = datetime.now(UTC)
        quarter_start_month = 3 * ((now.month - 1) // 3) + 1
        next_quarter = datetime(
            now.year + (quarter_start_month + 3 > 12), (quarter_start_month + 2) % 12 + 1, 1, tzinfo=UTC
        )
        assert scheduled["status"] == "scheduled"
        assert datetime.fromisoformat(scheduled["due_at"]) == next_quarter

        # priority: with finance's one agent busy, the high-value customer's next ticket waits
        # ahead of a normal customer's posted before it
        await assigned(http, stack, first)
        got = await http.get(f"{routing}/v1/organisation", headers=agent_headers())
        org = got.json()
        for department in org["departments"]:
            if department["id"] == "finance":
                department["default_capacity"] = 1
        r = await http.put(
            f"{routing}/v1/organisation", json=org, headers={**admin_headers(), "If-Match": got.headers["ETag"]}
        )
        assert r.status_code == 200, r.text
        normal = await post_ticket(http, stack, "after-normal", "c-normal", annual_spend=150)
        vip = await post_ticket(
            http,
            stack,
            "after-rich",
            "c-rich",
            annual_spend=50_000,
        )

        async def queued() -> list[str] | None:
            queues = (await http.get(f"{routing}/v1/queues?department_id=finance", headers=admin_headers())).json()
            waiting = [t["ticket_id"] for t in queues[0]["tickets"]] if queues else []
            return waiting if {normal, vip} <= set(waiting) else None

        waiting = await eventually(queued, timeout=40)
        assert waiting.index(vip) < waiting.index(normal)


async def test_erasing_a_customer_makes_every_service_forget_what_they_wrote(stack: Stack) -> None:
    """Issue 21: after one erasure at intake, the customer's words are nowhere: in no database of
    any service (every text, binary and JSON column of every table), on no topic, in no log; and
    feedback shows their survey comment as `[erased]`."""
    intake, feedback, retrospective = url(stack, "intake"), url(stack, "feedback"), url(stack, "retrospective")
    marker = f"zqx{uuid.uuid4().hex[:12]}"
    customer = f"c-erase-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(timeout=30) as http:
        body = create_ticket_body(
            category="product_quality",  # the technical team (finance is kept busy above)
            subject=f"Broken {marker}",
            description=f"The router {marker} stopped working",
            customer={"id": customer, "name": f"Ada {marker}", "contact": f"{marker}@example.com"},
        )
        r = await http.post(f"{intake}/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": customer}))
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
        shown_as = await pseudonym(http, stack, ticket_id)
        owner = (await assigned(http, stack, ticket_id))["assignee"]
        agent = agent_headers(owner["agent_id"], department=owner["department_id"])
        r = await http.post(
            f"{intake}/v1/tickets/{ticket_id}/replies", json={"body": f"Dear Ada {marker}, on it"}, headers=agent
        )
        assert r.status_code == 201, r.text
        message = {"body": f"Still {marker} broken"}
        r = await http.post(f"{intake}/v1/tickets/{ticket_id}/messages", json=message, headers=channel_headers())
        assert r.status_code == 201, r.text
        r = await http.post(f"{intake}/v1/tickets/{ticket_id}/resolve", json={"resolution": "Replaced"}, headers=agent)
        assert r.status_code == 200, r.text

        # the customer answers the survey with a comment holding the marker and an e-mail address
        async def survey() -> dict[str, Any] | None:
            r = await http.get(f"{feedback}/v1/tickets/{ticket_id}/survey", headers=admin_headers())
            return r.json() if r.status_code == 200 and r.json()["status"] == "open" else None

        sent = await eventually(survey, timeout=40)
        notifier = agent_headers("mailer", Role.NOTIFIER)
        deliveries = await http.get(f"{feedback}/v1/survey-deliveries", headers=notifier)
        [link] = [d["link"] for d in deliveries.json()["items"] if d["survey_id"] == sent["id"]]
        comment = f"{marker}: write to me at {marker}-mail@example.com"
        r = await http.post(f"{feedback}/v1/surveys/{link.rsplit('/', 1)[-1]}", json={"csat": 4, "comment": comment})
        assert r.status_code == 201, r.text
        assert r.json()["answers"]["comment"] == comment
        r = await http.get(f"{feedback}/v1/tickets/{ticket_id}/survey", headers=admin_headers())
        assert r.json()["answer"]["answers"]["comment"] == comment, "staff read it while the customer is known"

        # retrospective has put the customer in a segment
        async def segmented() -> dict[str, Any] | None:
            r = await http.get(f"{retrospective}/v1/customers/{shown_as}", headers=admin_headers())
            return r.json() if r.status_code == 200 and r.json()["segment"] else None

        await eventually(segmented, timeout=40)

        r = await http.delete(f"{intake}/v1/customers/{customer}/personal-data", headers=admin_headers())
        assert r.status_code == 204, r.text

        async def forgotten() -> dict[str, Any] | None:
            r = await http.get(f"{feedback}/v1/tickets/{ticket_id}/survey", headers=admin_headers())
            answer = r.json()["answer"]
            return answer if answer["answers"]["comment"] == "[erased]" else None

        erased = await eventually(forgotten, timeout=40)
        assert erased["answers"]["csat"] == 4, "the score stays"
        r = await http.get(f"{feedback}/v1/surveys", params={"customer_id": shown_as}, headers=admin_headers())
        [listed] = [s for s in r.json()["items"] if s["ticket_id"] == ticket_id]  # (and a relationship survey)
        assert listed["answer"]["answers"]["comment"] == "[erased]"
        # a repeated erasure (a redelivered event, too) changes nothing
        r = await http.delete(f"{intake}/v1/customers/{customer}/personal-data", headers=admin_headers())
        assert r.status_code == 204, r.text

    # nowhere: no database, no topic, no log
    server = stack.pg.url("postgres").replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    assert await find_in_databases(server, [marker]) == []
    topics = Topics(stack.platform().topic_prefix).all()
    assert await find_in_topics(stack.broker.bootstrap, topics, [marker]) == []
    logs = sorted((stack.config.data_dir / "logs").glob("*.log"))
    assert logs, "the services' logs are captured"
    assert [p.name for p in logs if marker in p.read_text(errors="replace").lower()] == []


async def test_a_channels_customer_reference_never_leaves_intake(stack: Stack) -> None:
    """Issue 21 finding 2: a channel that uses an e-mail address as its customer id sees it on its
    own read-back; no event, no other service's database and no staff answer holds it: they all
    know the customer by one stable pseudonym (their second ticket too), which an admin alone can
    look up at intake (recorded), until the customer is erased."""
    intake, routing = url(stack, "intake"), url(stack, "routing")
    feedback, retrospective = url(stack, "feedback"), url(stack, "retrospective")
    reference = "jane.doe@example.com"
    async with httpx.AsyncClient(timeout=30) as http:
        # the technical team's (finance is kept busy above)
        body = create_ticket_body(
            category="product_quality", customer={"id": reference, "name": "Jane", "contact": reference}
        )
        r = await http.post(f"{intake}/v1/tickets", json=body, headers=channel_headers(**{"Idempotency-Key": "ref-1"}))
        assert r.status_code == 201, r.text
        first = r.json()["id"]
        shown_as = await pseudonym(http, stack, first)
        owner = (await assigned(http, stack, first))["assignee"]
        agent = agent_headers(owner["agent_id"], department=owner["department_id"])
        r = await http.post(f"{intake}/v1/tickets/{first}/resolve", json={"resolution": "Refunded"}, headers=agent)
        assert r.status_code == 200, r.text
        second = await post_ticket(http, stack, "ref-2", reference)
        assert await pseudonym(http, stack, second) == shown_as, "one customer, one pseudonym"

        back = await http.get(f"{intake}/v1/channel/tickets/{first}", headers=channel_headers())
        assert back.json()["customer"]["id"] == reference, "the channel reads back its own reference"

        # the loop knows the customer by the pseudonym: retrospective's customer page, feedback's survey
        async def known() -> dict[str, Any] | None:
            r = await http.get(f"{retrospective}/v1/customers/{shown_as}", headers=admin_headers())
            return r.json() if r.status_code == 200 and r.json()["segment"] else None

        page = await eventually(known, timeout=40)

        async def surveyed() -> dict[str, Any] | None:
            r = await http.get(f"{feedback}/v1/tickets/{first}/survey", headers=admin_headers())
            return r.json() if r.status_code == 200 else None

        survey = await eventually(surveyed, timeout=40)
        staff_answers = [
            page,
            survey,
            (
                await http.get(f"{feedback}/v1/surveys", params={"customer_id": shown_as}, headers=admin_headers())
            ).json(),
            await ticket(http, stack, first),
            (await http.get(f"{intake}/v1/tickets", params={"customer_id": reference}, headers=admin_headers())).json(),
            (await http.get(f"{routing}/v1/assignments/{first}", headers=admin_headers())).json(),
        ]
        assert shown_as in str(staff_answers[0]) and shown_as in str(staff_answers[4])
        assert [a for a in staff_answers if reference in str(a)] == []

        # the admin's lookup, recorded; nobody else's
        lookup = f"{intake}/v1/customers/{shown_as}/reference"
        assert (await http.get(lookup, headers=agent)).status_code == 403
        r = await http.get(lookup, headers=admin_headers())
        assert (r.status_code, r.json()["reference"]) == (200, reference)
        audit = await http.get(
            f"{intake}/v1/audit", params={"subject": f"customer:{shown_as}"}, headers=admin_headers()
        )
        assert [e["action"] for e in audit.json()["items"]] == ["customer.reference_read"]

        # no event and no other service's database holds it (intake's holds it only sealed)
        topics = Topics(stack.platform().topic_prefix).all()
        assert await find_in_topics(stack.broker.bootstrap, topics, [reference]) == []
        server = stack.pg.url("postgres").replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
        assert await find_in_databases(server, [reference]) == []

        # erased: the reference cannot be looked up any more
        r = await http.delete(f"{intake}/v1/customers/{shown_as}/personal-data", headers=admin_headers())
        assert r.status_code == 204, r.text
        assert (await http.get(lookup, headers=admin_headers())).status_code == 404
