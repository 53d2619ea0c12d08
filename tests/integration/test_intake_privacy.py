"""Personal data in intake: sealed at rest with a key per customer, masked where it leaves,
read unmasked only by an admin (and recorded), erased by destroying the key; and a channel
client reads back only the tickets it created."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    assign_in_intake,
    channel_headers,
    create_ticket_body,
    eventually,
    pseudonym_in,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.settings import PlatformSettings

NAME, CONTACT = "Zofia Wiśniewska-Kowalczyk", "zofia.unique@example.org"
SUBJECT, DESCRIPTION, REPLY = "Parcel 77XQ never arrived", "Tracking says delivered to locker 9Z", "Resent as 88QQ"


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


async def report(intake: RunningService, customer_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    body = create_ticket_body(
        customer={"id": customer_id, "name": NAME, "contact": CONTACT}, subject=SUBJECT, description=DESCRIPTION
    )
    r = await intake.client.post("/v1/tickets", json=body, headers=headers or channel_headers())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def stored_bytes(intake: RunningService) -> bytes:
    """Every row of the tickets and timeline tables, as the database holds them."""
    settings: IntakeSettings = intake.app.state.settings
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        rows = [*await conn.fetch("SELECT * FROM tickets"), *await conn.fetch("SELECT * FROM timeline")]
    finally:
        await conn.close()
    return b"".join(str(v).encode() if not isinstance(v, bytes) else v for row in rows for v in row.values())


async def test_personal_texts_are_sealed_at_rest_and_read_back_opened_and_masked(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await report(intake, "cust-sealed")
    await assign_in_intake(intake, platform, ticket)
    assert (ticket["subject"], ticket["description"], ticket["customer"]["name"]) == (SUBJECT, DESCRIPTION, NAME)
    assert ticket["customer"]["contact_masked"] == "z***********@example.org"
    r = await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": REPLY}, headers=agent_headers())
    assert r.status_code == 201, r.text

    raw = await stored_bytes(intake)
    for secret in (NAME, CONTACT, SUBJECT, DESCRIPTION, REPLY, "77XQ", "zofia"):
        assert secret.encode() not in raw, secret

    shown = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())).json()
    assert (shown["subject"], shown["customer"]["name"]) == (SUBJECT, NAME)
    assert CONTACT not in str(shown)
    assert [e["body"] for e in shown["timeline"] if e["kind"] == "reply"] == [REPLY]
    listed = (await intake.client.get("/v1/tickets?customer_id=cust-sealed", headers=admin_headers())).json()
    assert [t["subject"] for t in listed["items"]] == [SUBJECT]


async def test_erasing_a_customer_destroys_their_texts_and_keeps_the_facts(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await report(intake, "cust-gone")
    await assign_in_intake(intake, platform, ticket)
    await intake.client.post(f"/v1/tickets/{ticket['id']}/replies", json={"body": REPLY}, headers=agent_headers())
    other = await report(intake, "cust-stays")
    url = "/v1/customers/cust-gone/personal-data"

    assert (await intake.client.delete(url, headers=agent_headers())).status_code == 403
    assert (await intake.client.delete(url, headers=admin_headers())).status_code == 204

    gone = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())).json()
    assert (gone["subject"], gone["description"], gone["customer"]["name"]) == ("[erased]",) * 3
    assert gone["customer"]["contact_masked"] is None
    assert [e["body"] for e in gone["timeline"] if e["kind"] == "reply"] == [None]
    assert (gone["number"], gone["category"], gone["status"]) == (ticket["number"], ticket["category"], "in_progress")
    kept = (await intake.client.get(f"/v1/tickets/{other['id']}", headers=admin_headers())).json()
    assert kept["subject"] == SUBJECT

    assert (await intake.client.delete(url, headers=admin_headers())).status_code == 204  # harmless again
    unknown = await intake.client.delete("/v1/customers/nobody/personal-data", headers=admin_headers())
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")

    # the same customer reporting again gets a new key: the new ticket reads, the old stays erased
    again = await report(intake, "cust-gone")
    assert (await intake.client.get(f"/v1/tickets/{again['id']}", headers=admin_headers())).json()["subject"] == SUBJECT
    old = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())).json()
    assert old["subject"] == "[erased]"

    audit = (await intake.client.get("/v1/audit?action=customer.personal_data_erased", headers=admin_headers())).json()
    # recorded under the pseudonym: the audit log holds no channel's reference either
    gone_id = pseudonym_in(intake, "cust-gone")
    assert [e["subject"] for e in audit["items"]] == [f"customer:{gone_id}", f"customer:{gone_id}"]


async def test_unmasked_personal_data_is_for_admins_and_every_read_is_recorded(intake: RunningService) -> None:
    await report(intake, "cust-read")
    url = "/v1/customers/cust-read/personal-data"
    assert (await intake.client.get(url, headers=agent_headers())).status_code == 403
    r = await intake.client.get(url, headers=admin_headers())
    assert r.status_code == 200 and r.json() == {"customer_id": "cust-read", "name": NAME, "contact": CONTACT}
    assert r.headers["cache-control"] == "no-store"
    subject = f"customer:{pseudonym_in(intake, 'cust-read')}"
    audit = (await intake.client.get(f"/v1/audit?subject={subject}", headers=admin_headers())).json()
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [("customer.personal_data_read", "admin-test")]


async def test_a_channel_client_reads_back_only_the_tickets_it_created(intake: RunningService) -> None:
    created = await intake.client.post(
        "/v1/channel-clients", json={"name": "shop-app", "channels": ["app", "web"]}, headers=admin_headers()
    )
    assert created.status_code == 201, created.text
    shop = channel_headers(created.json()["api_key"])
    mine = await report(intake, f"cust-{uuid.uuid4().hex[:6]}", headers=shop)
    theirs = await report(intake, f"cust-{uuid.uuid4().hex[:6]}")

    listed = (await intake.client.get("/v1/channel/tickets", headers=shop)).json()
    assert [t["id"] for t in listed["items"]] == [mine["id"]] and listed["total"] == 1
    one = await intake.client.get(f"/v1/channel/tickets/{mine['id']}", headers=shop)
    assert one.status_code == 200 and one.json()["customer"]["contact_masked"] != CONTACT
    assert one.json()["subject"] == SUBJECT
    hidden = await intake.client.get(f"/v1/channel/tickets/{theirs['id']}", headers=shop)
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "ticket_not_found")
    assert (await intake.client.get("/v1/channel/tickets", headers=channel_headers("wrong"))).status_code == 401
    assert (await intake.client.get("/v1/channel/tickets", headers=agent_headers())).status_code == 401


async def test_an_erasure_through_one_replica_holds_in_another_within_seconds(
    intake: RunningService, platform: PlatformSettings
) -> None:
    settings: IntakeSettings = intake.app.state.settings
    ticket = await report(intake, "cust-twice")
    # The other replica re-reads erasures on their notice only (its safety net is an hour).
    quiet = platform.model_copy(update={"notice_safety_net_seconds": 3600.0})
    async with serve(create_app(IntakeSettings(database_url=settings.database_url, platform=quiet))) as other:
        url = f"/v1/tickets/{ticket['id']}"
        assert (await other.client.get(url, headers=admin_headers())).json()["subject"] == SUBJECT  # key cached
        assert (
            await intake.client.delete("/v1/customers/cust-twice/personal-data", headers=admin_headers())
        ).status_code == 204

        async def erased_there() -> bool:
            return bool((await other.client.get(url, headers=admin_headers())).json()["subject"] == "[erased]")

        await eventually(erased_there, timeout=5)


async def outbox_text(intake: RunningService) -> str:
    """Every event intake wrote for the topics, as stored."""
    settings: IntakeSettings = intake.app.state.settings
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        rows = await conn.fetch("SELECT * FROM outbox")
    finally:
        await conn.close()
    return " ".join(str(v) for row in rows for v in row.values())


async def test_a_channels_customer_reference_stays_sealed_in_intake_behind_a_pseudonym(
    intake: RunningService, platform: PlatformSettings
) -> None:
    """Issue 21 finding 2: a channel using an e-mail address as its customer id sees it again on
    its own read-back; staff, events and everything else see only a stable pseudonym, which an
    admin alone can turn back into the reference (recorded), until the customer is erased."""
    reference = f"jane.doe.{uuid.uuid4().hex[:6]}@example.com"
    first = await report(intake, reference)
    assert first["customer"]["id"] == reference, "the channel's answer keeps its own reference"
    pseudonym = pseudonym_in(intake, reference)
    assert pseudonym.startswith("cus_") and len(pseudonym) == 30

    staff = (await intake.client.get(f"/v1/tickets/{first['id']}", headers=admin_headers())).json()
    assert staff["customer"]["id"] == pseudonym and reference not in str(staff)
    back = (await intake.client.get(f"/v1/channel/tickets/{first['id']}", headers=channel_headers())).json()
    assert back["customer"]["id"] == reference
    listed = (await intake.client.get("/v1/channel/tickets", headers=channel_headers())).json()["items"]
    assert [t["customer_id"] for t in listed if t["id"] == first["id"]] == [reference]

    # the same customer's next ticket is filed under the same pseudonym; staff find both by either id
    again = await intake.client.post(
        "/v1/tickets",
        json=create_ticket_body(customer={"id": reference, "name": NAME}, subject=SUBJECT, description=DESCRIPTION),
        headers=channel_headers(),
    )
    assert (again.status_code, again.json()["id"], again.json()["repeat_contact"]) == (200, first["id"], True)
    other = create_ticket_body(customer={"id": reference, "name": NAME}, subject="Another parcel lost")
    r = await intake.client.post("/v1/tickets", json=other, headers=channel_headers())
    assert r.status_code == 201, r.text
    second = r.json()
    for asked in (pseudonym, reference):
        found = (await intake.client.get("/v1/tickets", params={"customer_id": asked}, headers=admin_headers())).json()
        assert {t["id"] for t in found["items"]} >= {first["id"], second["id"]}
        assert {t["customer_id"] for t in found["items"]} == {pseudonym} and reference not in str(found)

    # every event carries the pseudonym, none the reference; the database holds it only sealed
    async def announced() -> str | None:
        text = await outbox_text(intake)
        return text if pseudonym in text else None

    assert reference not in await eventually(announced)
    assert reference.encode() not in await stored_bytes(intake)

    # an admin looks the reference up (recorded); nobody else may; unknown is 404
    url = f"/v1/customers/{pseudonym}/reference"
    assert (await intake.client.get(url, headers=agent_headers())).status_code == 403
    r = await intake.client.get(url, headers=admin_headers())
    assert r.status_code == 200 and r.json() == {"customer_id": pseudonym, "reference": reference}
    assert r.headers["cache-control"] == "no-store"
    unknown = await intake.client.get(
        f"/v1/customers/{pseudonym_in(intake, 'nobody')}/reference", headers=admin_headers()
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "customer_not_found")
    audit = (await intake.client.get(f"/v1/audit?subject=customer:{pseudonym}", headers=admin_headers())).json()
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [("customer.reference_read", "admin-test")]

    # erased by the reference (the pseudonym works too): the reference cannot be read any more
    assert (
        await intake.client.delete(f"/v1/customers/{reference}/personal-data", headers=admin_headers())
    ).status_code == 204
    assert (await intake.client.get(url, headers=admin_headers())).status_code == 404
    back = (await intake.client.get(f"/v1/channel/tickets/{first['id']}", headers=channel_headers())).json()
    assert back["customer"]["id"] == pseudonym, "once erased, the channel too sees only the pseudonym"
    assert (
        await intake.client.delete(f"/v1/customers/{pseudonym}/personal-data", headers=admin_headers())
    ).status_code == 204


async def test_customers_stored_before_pseudonyms_are_re_keyed_to_them(
    intake: RunningService, platform: PlatformSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written before pseudonyms hold the channel's reference as the customer id and are
    sealed for it: the re-keying job moves them to the pseudonym (merging the key the customer got
    by reporting again since), after which they read, search and repeat as any other."""
    from ticketloop_intake.customers.service import rekey_legacy_customers
    from ticketloop_intake.tickets import creation
    from ticketloop_intake.tickets.domain import fingerprint

    def rekey() -> Awaitable[int]:
        return rekey_legacy_customers(
            intake.runtime.sessions, settings, fingerprint=lambda subject, key: fingerprint(subject, key=key)
        )

    reference = f"old.customer.{uuid.uuid4().hex[:6]}@example.com"
    with monkeypatch.context() as before_pseudonyms:
        before_pseudonyms.setattr(creation, "pseudonym_of", lambda _settings, ref: ref)
        old = await report(intake, reference)
        await assign_in_intake(intake, platform, old)
        r = await intake.client.post(f"/v1/tickets/{old['id']}/replies", json={"body": REPLY}, headers=agent_headers())
        assert r.status_code == 201, r.text
    settings: IntakeSettings = intake.app.state.settings
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await conn.execute("UPDATE tickets SET customer_reference = NULL WHERE customer_id = $1", reference)
    finally:
        await conn.close()
    # the customer reports something else after the upgrade: a key of their pseudonym too
    newer = create_ticket_body(customer={"id": reference, "name": NAME}, subject="A new problem entirely")
    assert (await intake.client.post("/v1/tickets", json=newer, headers=channel_headers())).status_code == 201

    await rekey()
    assert await rekey() == 0, "nothing left: idempotent"

    pseudonym = pseudonym_in(intake, reference)
    shown = (await intake.client.get(f"/v1/tickets/{old['id']}", headers=admin_headers())).json()
    assert (shown["customer"]["id"], shown["subject"], shown["customer"]["name"]) == (pseudonym, SUBJECT, NAME)
    assert [e["body"] for e in shown["timeline"] if e["kind"] == "reply"] == [REPLY]
    back = (await intake.client.get(f"/v1/channel/tickets/{old['id']}", headers=channel_headers())).json()
    assert back["customer"]["id"] == reference
    assert reference.encode() not in await stored_bytes(intake)
    found = (await intake.client.get("/v1/tickets", params={"customer_id": reference}, headers=admin_headers())).json()
    assert found["total"] == 2 and {t["customer_id"] for t in found["items"]} == {pseudonym}
    # the old problem reported again is recognised (its fingerprint re-keyed with the merged key)
    again = await intake.client.post(
        "/v1/tickets",
        json=create_ticket_body(customer={"id": reference, "name": NAME}, subject=SUBJECT),
        headers=channel_headers(),
    )
    assert (again.status_code, again.json()["id"]) == (200, old["id"])
    r = await intake.client.get(f"/v1/customers/{pseudonym}/reference", headers=admin_headers())
    assert r.json()["reference"] == reference
