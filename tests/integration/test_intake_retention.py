"""Retention in intake: what is past its limit is erased (closed tickets' personal texts, the
keys of customers with nothing younger) or deleted (finished webhook deliveries, audit entries);
what is younger stays; the tickets still count; the dry run changes nothing; 0 keeps forever."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.support import RunningService, admin_headers, channel_headers, create_ticket_body, pseudonym_in, serve
from ticketloop_intake.app import create_app
from ticketloop_intake.retention.scheduled import apply_retention
from ticketloop_intake.retention.service import CLASSES
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.retention import run_cli
from ticketloop_shared.settings import PlatformSettings

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
OLD, YOUNG = NOW - timedelta(days=800), NOW - timedelta(days=100)
SUBJECT, MESSAGE = "Router 55KQ keeps rebooting", "Still rebooting after the update 91ZZ"


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    # No webhook worker: it would attempt the pending delivery written below (an attempt row more).
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        retention_enabled=False,
        webhooks_worker_enabled=False,
    )
    async with serve(create_app(settings, clock=FrozenClock(NOW))) as running:
        yield running


async def sql(intake: RunningService, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(intake.runtime.settings.database_url))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def ticket(intake: RunningService, customer_id: str, *, closed_at: datetime | None) -> str:
    """A ticket with a customer message, closed at `closed_at` (None: left open)."""
    body = create_ticket_body(customer={"id": customer_id, "name": "Ada Byron", "contact": "ada@example.org"})
    r = await intake.client.post("/v1/tickets", json={**body, "subject": SUBJECT}, headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket_id = str(r.json()["id"])
    r = await intake.client.post(f"/v1/tickets/{ticket_id}/messages", json={"body": MESSAGE}, headers=channel_headers())
    assert r.status_code == 201, r.text
    if closed_at is not None:
        await sql(
            intake,
            "UPDATE tickets SET status = 'closed', closed_at = $2 WHERE id = $1",
            uuid.UUID(ticket_id),
            closed_at,
        )
    return ticket_id


async def shown(intake: RunningService, ticket_id: str) -> dict[str, Any]:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    return dict(r.json())


def texts(view: dict[str, Any]) -> tuple[str, str, list[str | None]]:
    return view["subject"], view["customer"]["name"], [e["body"] for e in view["timeline"] if e["kind"] == "message"]


async def dry_run(intake: RunningService) -> dict[str, dict[str, Any]]:
    r = await intake.client.get("/v1/retention", headers=admin_headers())
    assert r.status_code == 200, r.text
    return {c["data_class"]: c for c in r.json()["classes"]}


async def old_and_young_logs(intake: RunningService) -> None:
    """An audit entry and a finished webhook delivery (with an attempt) on each side of the limits."""
    for at in (NOW - timedelta(days=1200), NOW - timedelta(days=10)):
        await sql(
            intake,
            "INSERT INTO audit_log (at, actor, role, action, subject, details) "
            "VALUES ($1, 'a', 'admin', 'x', 's', '{}')",
            at,
        )
    endpoint = uuid.uuid4()
    await sql(
        intake,
        "INSERT INTO webhook_endpoints (id, owner, url, event_types, status, secret, version, created_by, created_at, "
        "updated_at) VALUES ($1, 'admin', 'https://example.org/h', '{ticket.created}', 'active', '\\x00'::bytea, 1, "
        "'admin', $2, $2)",
        endpoint,
        NOW,
    )
    for at, status in (
        (NOW - timedelta(days=40), "delivered"),
        (NOW - timedelta(days=5), "delivered"),
        (NOW - timedelta(days=40), "pending"),
    ):
        delivery = uuid.uuid4()
        await sql(
            intake,
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, order_key, payload, status, "
            "attempts, next_attempt_at, delivered_at, created_at) VALUES ($1, $2, $3, 'ticket.created', 'k', "
            "'\\x00'::bytea, $4, 1, $5, $6, $5)",
            delivery,
            endpoint,
            uuid.uuid4(),
            status,
            at,
            at if status == "delivered" else None,
        )
        await sql(
            intake,
            "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms) VALUES ($1, $2, 200, 5)",
            delivery,
            at,
        )


async def test_the_dry_run_counts_what_is_past_its_limit_and_changes_nothing(intake: RunningService) -> None:
    old = await ticket(intake, "cust-gone", closed_at=OLD)
    await ticket(intake, "cust-recent", closed_at=YOUNG)
    await ticket(intake, "cust-back", closed_at=OLD - timedelta(days=1))
    await ticket(intake, "cust-back", closed_at=None)
    await old_and_young_logs(intake)

    report = await dry_run(intake)

    assert report["closed_ticket_texts"]["due"] == 2
    assert report["closed_ticket_texts"]["action"] == "erase"
    assert report["closed_ticket_texts"]["keep_days"] == 730
    assert datetime.fromisoformat(report["closed_ticket_texts"]["oldest"]) == OLD - timedelta(days=1)
    assert (report["customer_keys"]["due"], report["customer_keys"]["oldest"]) == (
        1,
        OLD.isoformat().replace("+00:00", "Z"),
    )
    assert report["webhook_deliveries"]["due"] == 1
    assert report["audit_entries"]["due"] == 1
    assert report["closed_ticket_texts"]["setting"] == "TICKETLOOP_INTAKE_RETAIN_CLOSED_TICKET_TEXTS_DAYS"
    assert all(c["done"] == 0 and c["dry_run"] for c in report.values())
    # Nothing changed.
    assert texts(await shown(intake, old)) == (SUBJECT, "Ada Byron", [MESSAGE])
    assert len(await sql(intake, "SELECT 1 FROM customer_keys")) == 3
    assert len(await sql(intake, "SELECT 1 FROM audit_log")) == 2
    assert len(await sql(intake, "SELECT 1 FROM webhook_deliveries")) == 3
    assert await dry_run(intake) == report


async def test_the_job_erases_or_deletes_what_is_past_its_limit_and_keeps_the_rest(intake: RunningService) -> None:
    old = await ticket(intake, "cust-gone", closed_at=OLD)
    recent = await ticket(intake, "cust-recent", closed_at=YOUNG)
    old_of_returning = await ticket(intake, "cust-back", closed_at=OLD - timedelta(days=1))
    open_of_returning = await ticket(intake, "cust-back", closed_at=None)
    await old_and_young_logs(intake)
    intake.runtime.settings.retention_batch = 1  # several batches per class

    done = {c.data_class: c.done for c in await apply_retention(intake.runtime)}

    assert done == {"closed_ticket_texts": 2, "customer_keys": 1, "webhook_deliveries": 1, "audit_entries": 1}
    for erased in (old, old_of_returning):
        view = await shown(intake, erased)
        assert texts(view) == ("[erased]", "[erased]", [None])  # a body that is gone reads null
        assert view["status"] == "closed" and view["category"]  # the ticket's facts stay
    for kept in (recent, open_of_returning):
        assert texts(await shown(intake, kept)) == (SUBJECT, "Ada Byron", [MESSAGE])
    raw = b"".join(
        bytes(r[0])
        for r in await sql(intake, "SELECT subject FROM tickets WHERE closed_at < $1", NOW - timedelta(days=730))
    )
    assert raw == b"\x02\x02"
    assert not await sql(intake, "SELECT 1 FROM ticket_words WHERE ticket_id = $1", uuid.UUID(old))
    kept_keys = {r[0] for r in await sql(intake, "SELECT customer_id FROM customer_keys")}
    assert kept_keys == {pseudonym_in(intake, "cust-recent"), pseudonym_in(intake, "cust-back")}
    # Retiring a key is not an erasure: the customer may come back and be contacted.
    assert [tuple(r) for r in await sql(intake, "SELECT customer_id, kind FROM customer_erasures")] == [
        (pseudonym_in(intake, "cust-gone"), "retention")
    ]
    assert len(await sql(intake, "SELECT 1 FROM audit_log")) == 1
    assert sorted(r[0] for r in await sql(intake, "SELECT status FROM webhook_deliveries")) == ["delivered", "pending"]
    assert len(await sql(intake, "SELECT 1 FROM webhook_attempts")) == 2
    # Every ticket still counts.
    r = await intake.client.get("/v1/tickets?limit=50", headers=admin_headers())
    assert r.status_code == 200 and r.json()["total"] == 4
    # A second run finds nothing more; the customer who comes back gets a new key.
    assert all(c.due == 0 and c.done == 0 for c in await apply_retention(intake.runtime))
    again = await ticket(intake, "cust-gone", closed_at=None)
    assert texts(await shown(intake, again)) == (SUBJECT, "Ada Byron", [MESSAGE])


async def test_a_limit_of_0_keeps_the_class_forever(intake: RunningService) -> None:
    old = await ticket(intake, "cust-gone", closed_at=NOW - timedelta(days=9000))
    await old_and_young_logs(intake)
    settings = intake.runtime.settings
    settings.retain_closed_ticket_texts_days = 0
    settings.retain_webhook_deliveries_days = 0
    settings.retain_audit_days = 0

    report = await dry_run(intake)
    assert all((c["keep_days"], c["cutoff"], c["due"]) == (None, None, 0) for c in report.values())
    assert all(c.done == 0 for c in await apply_retention(intake.runtime))
    assert texts(await shown(intake, old)) == (SUBJECT, "Ada Byron", [MESSAGE])
    assert len(await sql(intake, "SELECT 1 FROM audit_log")) == 2
    assert len(await sql(intake, "SELECT 1 FROM webhook_deliveries")) == 3


async def test_only_admins_read_the_retention_report(intake: RunningService) -> None:
    r = await intake.client.get("/v1/retention", headers=channel_headers())
    assert r.status_code in (401, 403)


async def test_the_command_line_reports_then_applies_the_schedule(
    intake: RunningService, capsys: pytest.CaptureFixture[str]
) -> None:
    await ticket(intake, "cust-gone", closed_at=datetime.now(UTC) - timedelta(days=800))
    settings = intake.runtime.settings

    assert await run_cli(settings, CLASSES, service="intake", dry_run=True, as_json=True) == 0
    counted = json.loads(capsys.readouterr().out)
    assert counted["dry_run"] and {c["data_class"]: c["due"] for c in counted["classes"]}["closed_ticket_texts"] == 1

    assert await run_cli(settings, CLASSES, service="intake", dry_run=False, as_json=False) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["service", "class", "action"]
    row = next(line.split() for line in table if "closed_ticket_texts" in line)
    assert row[:7] == ["intake", "closed_ticket_texts", "erase", "730", "d", "1", "1"]
    assert [r[0] for r in await sql(intake, "SELECT subject FROM tickets")] == [b"\x02"]
