"""Files on customer messages and replies, over real HTTP on a real PostgreSQL and broker: the
type checked from the content, size and count limits, stored sealed with the customer's key,
listed on the timeline, downloaded byte for byte by whoever may read the ticket (and no one
else), erased with the customer's data, stored once under an Idempotency-Key."""

from __future__ import annotations

import base64
import os
import struct
import uuid
import zlib
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
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.settings import PlatformSettings


def png(extra: int = 0) -> bytes:
    """A real 1×1 PNG, padded after its end with `extra` random bytes (still a PNG by content)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    image = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
    return image + os.urandom(extra)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def attached(filename: str, content: bytes) -> dict[str, str]:
    return {"filename": filename, "content_base64": base64.b64encode(content).decode()}


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


async def assigned_ticket(intake: RunningService, platform: PlatformSettings, **overrides: Any) -> dict[str, Any]:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    await assign_in_intake(intake, platform, ticket)
    return ticket


async def query(intake: RunningService, sql: str, *args: object) -> list[asyncpg.Record]:
    settings: IntakeSettings = intake.app.state.settings
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def files_of(ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for e in ticket["timeline"] if e["kind"] == kind for a in e["attachments"]]


async def test_files_on_a_customer_message_and_a_reply_are_listed_and_download_byte_for_byte(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await assigned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    # 2 MiB: over the service-wide 1 MiB body limit, within the attachment routes' own.
    photo, invoice = png(extra=2 * 1_048_576), PDF
    r = await intake.client.post(
        f"{url}/messages",
        json={
            "body": "Here is the photo and the invoice",
            "attachments": [attached("parcel photo.png", photo), attached("facture été.pdf", invoice)],
        },
        headers=channel_headers(),
    )
    assert r.status_code == 201, r.text
    listed = files_of(r.json(), "message")
    assert [(a["filename"], a["content_type"], a["size"]) for a in listed] == [
        ("parcel photo.png", "image/png", len(photo)),
        ("facture été.pdf", "application/pdf", len(invoice)),
    ]
    # The declared name does not decide the type; a name that does not fit the content gets its extension.
    reply_file = png()
    r = await intake.client.post(
        f"{url}/replies",
        json={"body": "Label attached", "attachments": [attached("label.html", reply_file)]},
        headers=agent_headers(),
    )
    assert r.status_code == 201, r.text
    [label] = files_of(r.json(), "reply")
    assert (label["filename"], label["content_type"]) == ("label.html.png", "image/png")

    for file, content in ((listed[0], photo), (listed[1], invoice), (label, reply_file)):
        got = await intake.client.get(f"{url}/attachments/{file['id']}", headers=agent_headers())
        assert got.status_code == 200, got.text
        assert got.content == content
        assert got.headers["content-type"] == file["content_type"]
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["cache-control"] == "private, no-store"
        assert got.headers["content-disposition"].startswith("attachment; ")
        mine = await intake.client.get(
            f"/v1/channel/tickets/{ticket['id']}/attachments/{file['id']}", headers=channel_headers()
        )
        assert (mine.status_code, mine.content) == (200, content)
    got = await intake.client.get(f"{url}/attachments/{listed[1]['id']}", headers=agent_headers())
    assert "filename*=UTF-8''facture%20%C3%A9t%C3%A9.pdf" in got.headers["content-disposition"]

    # The channel's read-back lists the same files; contents and names are sealed at rest.
    read_back = (await intake.client.get(f"/v1/channel/tickets/{ticket['id']}", headers=channel_headers())).json()
    assert files_of(read_back, "message") == listed
    rows = await query(intake, "SELECT filename, content FROM attachments")
    assert len(rows) == 3
    assert all(b"parcel" not in row["filename"] and row["content"][1:] != photo for row in rows)
    assert not any(PDF[:20] in row["content"] for row in rows)


async def test_refused_files_say_why_and_store_nothing(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = await assigned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    cases: list[tuple[list[dict[str, str]], int, str]] = [
        ([attached("notes.png", b"just some text, not an image")], 415, "attachment_type_not_allowed"),
        ([attached("huge.png", png(extra=10 * 1_048_576))], 413, "attachment_too_large"),
        ([attached(f"p{i}.png", png()) for i in range(6)], 422, "too_many_attachments"),
        ([{"filename": "x.png", "content_base64": "not base64!"}], 422, "invalid_base64"),
        ([attached("../../etc/passwd.png", png())], 422, "invalid_filename"),
        ([attached("dir\\x.png", png())], 422, "invalid_filename"),
        ([attached("bell\x07.png", png())], 422, "invalid_filename"),
        ([attached("gnp.\u202eexe.png", png())], 422, "invalid_filename"),
    ]
    for files, status, code in cases:
        r = await intake.client.post(
            f"{url}/messages", json={"body": "see attached", "attachments": files}, headers=channel_headers()
        )
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (code, r.text[:300])
        r = await intake.client.post(
            f"{url}/replies", json={"body": "see attached", "attachments": files}, headers=agent_headers()
        )
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (code, r.text[:300])
    # Two files of exactly 10 MiB and a small one: each within the per-file limit, together over
    # the 20 MiB total (and still within the routes' body limit).
    ten = png(extra=10 * 1_048_576 - len(png()))
    big = [attached("a.png", ten), attached("b.png", ten), attached("c.png", png(extra=50_000))]
    r = await intake.client.post(f"{url}/replies", json={"body": "x", "attachments": big}, headers=agent_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (413, "attachments_too_large")
    assert await query(intake, "SELECT id FROM attachments") == []
    kinds = [e["kind"] for e in (await intake.client.get(url, headers=agent_headers())).json()["timeline"]]
    assert kinds == ["created", "assigned"]


async def test_only_those_who_may_read_the_ticket_download_its_files(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await assigned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    r = await intake.client.post(
        f"{url}/messages", json={"body": "photo", "attachments": [attached("a.png", png())]}, headers=channel_headers()
    )
    [file] = files_of(r.json(), "message")
    path = f"{url}/attachments/{file['id']}"

    other = await intake.client.get(path, headers=agent_headers("agent-x", department="logistics"))
    assert (other.status_code, other.json()["error"]["code"]) == (403, "not_your_department")
    assert (await intake.client.get(path, headers=admin_headers())).status_code == 200
    assert (await intake.client.get(path)).status_code == 401
    unknown = await intake.client.get(f"{url}/attachments/{uuid.uuid4()}", headers=agent_headers())
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "attachment_not_found")

    # Another ticket's id with this file's id: not found there.
    second = await assigned_ticket(intake, platform)
    wrong = await intake.client.get(f"/v1/tickets/{second['id']}/attachments/{file['id']}", headers=agent_headers())
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (404, "attachment_not_found")

    created = await intake.client.post(
        "/v1/channel-clients", json={"name": "other-shop", "channels": ["web"]}, headers=admin_headers()
    )
    stranger = channel_headers(created.json()["api_key"])
    theirs = await intake.client.get(f"/v1/channel/tickets/{ticket['id']}/attachments/{file['id']}", headers=stranger)
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "ticket_not_found")


async def test_erasure_destroys_the_files_with_the_customers_other_data(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await assigned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    photo = png(extra=1_000)
    r = await intake.client.post(
        f"{url}/messages",
        json={"body": "photo", "attachments": [attached("my passport.png", photo)]},
        headers=channel_headers(),
    )
    [file] = files_of(r.json(), "message")

    r = await intake.client.delete(f"/v1/customers/{ticket['customer']['id']}/personal-data", headers=admin_headers())
    assert r.status_code == 204
    for path, headers in (
        (f"{url}/attachments/{file['id']}", admin_headers()),
        (f"/v1/channel/tickets/{ticket['id']}/attachments/{file['id']}", channel_headers()),
    ):
        got = await intake.client.get(path, headers=headers)
        assert (got.status_code, got.json()["error"]["code"]) == (410, "attachment_erased")
    shown = (await intake.client.get(url, headers=admin_headers())).json()
    assert files_of(shown, "message") == [
        {"id": file["id"], "filename": "[erased]", "content_type": "image/png", "size": len(photo)}
    ]
    # Not even the ciphertext stays.
    [row] = await query(intake, "SELECT filename, content, erased_at FROM attachments")
    assert (row["filename"], row["content"]) == (b"\x02", b"\x02")
    assert row["erased_at"] is not None
    audit = await intake.client.get(
        "/v1/audit", params={"action": "customer.personal_data_erased"}, headers=admin_headers()
    )
    assert audit.json()["items"][0]["details"]["attachments_erased"] == 1


async def test_a_replayed_request_stores_its_files_once(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = await assigned_ticket(intake, platform)
    url = f"/v1/tickets/{ticket['id']}"
    body = {"body": "Label attached", "attachments": [attached("label.pdf", PDF)]}
    for path, headers in ((f"{url}/replies", agent_headers()), (f"{url}/messages", channel_headers())):
        key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        first = await intake.client.post(path, json=body, headers={**headers, **key})
        again = await intake.client.post(path, json=body, headers={**headers, **key})
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json()["timeline"] == first.json()["timeline"]
    assert len(await query(intake, "SELECT id FROM attachments")) == 2
