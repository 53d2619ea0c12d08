"""Canned replies over real HTTP on a real PostgreSQL and broker: admins write templates
(placeholders checked when saved, versions as ETags, every change audited), staff read them and
fill one in for a ticket they may read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.builders import Story
from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    assign_in_intake,
    channel_headers,
    create_ticket_body,
    eventually,
    publish,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.settings import PlatformSettings

ZONE = "Europe/Warsaw"
EVERY_PLACEHOLDER = (
    "Dear {customer_first_name} ({customer_name}), ticket {ticket_number}: {agent_name} of {department_name} "
    "answers by {first_response_due}, solves by {resolution_due}, committed {committed_resolution_at}. {{literal}}"
)


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform, reply_time_zone=ZONE)
    async with serve(create_app(settings)) as running:
        yield running


def template_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"Refund {uuid.uuid4().hex[:6]}", "body": "Hello {customer_first_name}"}
    body.update(overrides)
    return body


def readable(instant: datetime) -> str:
    local = instant.astimezone(ZoneInfo(ZONE))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}"


async def test_admins_write_templates_over_the_version_they_read_and_staff_read_them(
    intake: RunningService,
) -> None:
    client, admin = intake.client, admin_headers()
    r = await client.post("/v1/reply-templates", json=template_body(name="Refund sent"), headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (403, "admin_required")
    r = await client.post(
        "/v1/reply-templates",
        json=template_body(
            name="Refund sent", body="Hi {customer_first_name}, refund on {ticket_number}", category="billing"
        ),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["etag"] == '"1"'
    assert (created["placeholders"], created["category"], created["active"]) == (
        ["customer_first_name", "ticket_number"],
        "billing",
        True,
    )
    url = f"/v1/reply-templates/{created['id']}"
    r = await client.post("/v1/reply-templates", json=template_body(name="REFUND SENT"), headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "template_name_taken")
    await client.post("/v1/reply-templates", json=template_body(name="Any category"), headers=admin)
    await client.post(
        "/v1/reply-templates", json=template_body(name="Logistics", category="logistics_delay"), headers=admin
    )

    listed = (await client.get("/v1/reply-templates", params={"category": "billing"}, headers=agent_headers())).json()
    assert [t["name"] for t in listed["items"]] == ["Any category", "Refund sent"]
    assert listed["total"] == 2
    got = await client.get(url, headers=agent_headers())
    assert (got.status_code, got.headers["etag"], got.json()) == (200, '"1"', created)

    change = template_body(name="Refund sent", body="Hello {customer_name}", category=None, active=False)
    r = await client.put(url, json=change, headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
    r = await client.put(url, json=change, headers={**admin, "If-Match": '"7"'})
    assert (r.status_code, r.json()["error"]["code"]) == (412, "template_changed")
    r = await client.put(url, json=change, headers={**admin, "If-Match": '"1"'})
    assert (r.status_code, r.headers["etag"]) == (200, '"2"')
    assert (r.json()["body"], r.json()["category"], r.json()["active"]) == ("Hello {customer_name}", None, False)
    r = await client.put(url, json=change, headers={**admin, "If-Match": '"1"'})
    assert (r.status_code, r.json()["error"]["code"]) == (412, "template_changed")
    r = await client.put(url, json=template_body(name="Logistics"), headers={**admin, "If-Match": '"2"'})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "template_name_taken")
    inactive = (await client.get("/v1/reply-templates", params={"active": "false"}, headers=agent_headers())).json()
    assert [t["id"] for t in inactive["items"]] == [created["id"]]

    assert (await client.delete(url, headers=agent_headers())).status_code == 403
    r = await client.delete(url, headers={**admin, "If-Match": '"1"'})
    assert (r.status_code, r.json()["error"]["code"]) == (412, "template_changed")
    assert (await client.delete(url, headers={**admin, "If-Match": '"2"'})).status_code == 204
    r = await client.get(url, headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "template_not_found")

    audit = await client.get("/v1/audit", params={"subject": f"reply_template:{created['id']}"}, headers=admin)
    assert [e["action"] for e in audit.json()["items"]] == [
        "reply_template.deleted",
        "reply_template.updated",
        "reply_template.created",
    ]
    assert audit.json()["items"][1]["details"] == {"version": 2, "changed": ["active", "body", "category"]}


REFUSED = [
    "Hello {customer_firstname}",
    "Hello {}",
    "Hello {0}",
    "Number {ticket_number.__class__}",
    "Number {ticket_number[0]}",
    "Number {ticket_number!r}",
    "Number {ticket_number:>20}",
    "Unclosed {ticket_number",
    "Stray } brace",
]


async def test_a_template_with_an_unknown_placeholder_or_malformed_braces_is_refused(intake: RunningService) -> None:
    ok = await intake.client.post("/v1/reply-templates", json=template_body(), headers=admin_headers())
    for body in REFUSED:
        r = await intake.client.post("/v1/reply-templates", json=template_body(body=body), headers=admin_headers())
        assert (r.status_code, r.json()["error"]["code"]) == (422, "unknown_placeholder"), (body, r.text)
        assert "ticket_number" in r.json()["error"]["details"]["allowed"]
        r = await intake.client.put(
            f"/v1/reply-templates/{ok.json()['id']}",
            json=template_body(body=body),
            headers={**admin_headers(), "If-Match": '"1"'},
        )
        assert (r.status_code, r.json()["error"]["code"]) == (422, "unknown_placeholder"), body


async def test_a_template_is_filled_in_for_a_ticket_with_every_placeholder(
    intake: RunningService, platform: PlatformSettings
) -> None:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
    ticket = r.json()
    template = (
        await intake.client.post(
            "/v1/reply-templates", json=template_body(body=EVERY_PLACEHOLDER), headers=admin_headers()
        )
    ).json()
    render = f"/v1/tickets/{ticket['id']}/reply-templates/{template['id']}/render"

    # Not routed yet: only an admin reads it; what the ticket does not have yet reads sensibly.
    # Its deadlines it has from acceptance (issue 20: computed with sla's rules, here the
    # fallback policy's 15 minutes and one day, before sla publishes its own).
    accepted = datetime.fromisoformat(ticket["created_at"])
    r = await intake.client.post(render, headers=admin_headers())
    assert r.status_code == 200, r.text
    assert r.json() == {
        "text": f"Dear Jane (Jane Doe), ticket {ticket['number']}: admin-test of  answers by "
        f"{readable(accepted + timedelta(minutes=15))}, solves by {readable(accepted + timedelta(days=1))}, "
        "committed soon. {literal}"
    }

    await assign_in_intake(intake, platform, ticket)
    story = Story(
        created_at=datetime.fromisoformat(ticket["created_at"]),
        ticket_id=uuid.UUID(ticket["id"]),
        number=ticket["number"],
        customer_id=ticket["customer"]["id"],
    )
    await publish(platform, story.clocks_changed(datetime.now(UTC)))

    async def published() -> dict[str, Any] | None:
        shown = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=agent_headers())).json()
        # sla's own publication (version 1 on), not the deadlines known at acceptance (version 0).
        return shown["deadlines"] if (shown["sla"] or {}).get("version", 0) >= 1 else None

    await eventually(published)
    committed = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    r = await intake.client.post(
        f"/v1/tickets/{ticket['id']}/plan",
        json={"summary": "Refund", "committed_resolution_at": committed.isoformat()},
        headers=agent_headers(),
    )
    assert r.status_code == 200, r.text

    r = await intake.client.post(render, headers=agent_headers())
    assert r.status_code == 200, r.text
    created = story.created_at
    assert r.json()["text"] == (
        f"Dear Jane (Jane Doe), ticket {ticket['number']}: agent-test of After-sales answers by "
        f"{readable(created + timedelta(minutes=15))}, solves by {readable(created + timedelta(minutes=120))}, "
        f"committed {readable(committed)}. {{literal}}"
    )
    assert "CET" in r.json()["text"]

    other = await intake.client.post(render, headers=agent_headers("agent-x", department="logistics"))
    assert (other.status_code, other.json()["error"]["code"]) == (403, "not_your_department")
    missing = await intake.client.post(
        f"/v1/tickets/{ticket['id']}/reply-templates/{uuid.uuid4()}/render", headers=agent_headers()
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "template_not_found")
    r = await intake.client.put(
        f"/v1/reply-templates/{template['id']}",
        json={**template_body(name=template["name"], body=EVERY_PLACEHOLDER), "active": False},
        headers={**admin_headers(), "If-Match": '"1"'},
    )
    assert r.status_code == 200
    r = await intake.client.post(render, headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (409, "template_inactive")
