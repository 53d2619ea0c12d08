"""When its database goes away a service answers 503 with `Retry-After`, in the error shape, on the
same keep-alive connection; when the database comes back, so does the service, with no restart."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.test_webhooks import OWNER
from tests.support import (
    Receiver,
    RunningService,
    admin_headers,
    assign_in_intake,
    channel_headers,
    create_ticket_body,
    eventually,
    serve,
)
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import ensure_database
from ticketloop_shared.settings import PlatformSettings

# One worker runs this module: its server is started once, not once per worker.
pytestmark = pytest.mark.xdist_group("integration-outage")


@pytest.fixture(scope="module")
def outage_pg() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this module's own, so stopping it harms no other test."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-outage-"))
    pg = EmbeddedPostgres(root / "pg", free_port(), durable=False)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop(immediate=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def throwaway_pg(outage_pg: EmbeddedPostgres) -> EmbeddedPostgres:
    """The module's server, running again if an earlier test left it stopped."""
    if not outage_pg.running():
        outage_pg.start()
    return outage_pg


@pytest.fixture
async def intake(throwaway_pg: EmbeddedPostgres, platform: PlatformSettings) -> AsyncIterator[RunningService]:
    url = throwaway_pg.url(f"intake_{uuid.uuid4().hex[:10]}")
    await ensure_database(url)
    async with serve(create_app(IntakeSettings(database_url=url, platform=platform))) as running:
        yield running


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "dependency_unavailable"


async def test_database_down_is_503_with_retry_after_and_recovers(
    intake: RunningService, throwaway_pg: EmbeddedPostgres
) -> None:
    assert (await intake.client.get("/v1/tickets", headers=admin_headers())).status_code == 200

    await asyncio.to_thread(throwaway_pg.stop)

    assert_unavailable(await intake.client.get("/v1/tickets", headers=admin_headers()))
    assert_unavailable(await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers()))
    ready = await intake.client.get("/health/ready")
    assert ready.status_code == 503 and "database" in ready.json()["problems"]

    await asyncio.to_thread(throwaway_pg.start)

    async def recovered() -> bool:
        r = await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())
        return r.status_code == 201

    await eventually(recovered, timeout=30, interval=0.2)
    assert (await intake.client.get("/v1/tickets", headers=admin_headers())).status_code == 200


async def test_a_503_keeps_the_connection_open(intake: RunningService, throwaway_pg: EmbeddedPostgres) -> None:
    await asyncio.to_thread(throwaway_pg.stop)
    host, port = intake.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        token = admin_headers()["Authorization"]
        request = f"GET /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
        for _ in range(2):  # the second request travels on the connection the first 503 left open
            writer.write(request)
            await writer.drain()
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)).decode().lower()
            assert head.startswith("http/1.1 503")
            assert "connection: close" not in head
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            await reader.readexactly(length)
    finally:
        writer.close()


async def test_webhook_deliveries_wait_out_a_database_outage_and_arrive_once_in_order(
    throwaway_pg: EmbeddedPostgres,
    platform: PlatformSettings,
    receiver: Receiver,
) -> None:
    """Deliveries live in intake's database: while it is down the worker can neither claim nor
    record, and must not lose or double anything; once it is back, each arrives once, in order."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    url = throwaway_pg.url(f"intake_{uuid.uuid4().hex[:10]}")
    await ensure_database(url)
    settings = IntakeSettings(
        database_url=url, platform=platform, webhooks_allow_private=True, webhooks_poll_seconds=0.05
    )
    async with serve(create_app(settings, clock=clock)) as intake:
        r = await intake.client.post(
            "/v1/channel/webhooks",
            json={"url": receiver.url, "event_types": ["ticket.updated"]},
            headers=channel_headers(),
        )
        assert r.status_code == 201, r.text
        ticket = (await intake.client.post("/v1/tickets", json=create_ticket_body(), headers=channel_headers())).json()
        await assign_in_intake(intake, platform, ticket)
        receiver.status = 503  # the receiver refuses: the first delivery waits for its retry
        texts = [f"Update {n}: still on it" for n in range(1, 4)]
        for text in texts:
            r = await intake.client.post(f"/v1/tickets/{ticket['id']}/updates", json={"body": text}, headers=OWNER)
            assert r.status_code == 201, r.text
        await eventually(lambda: receiver.received)

        await asyncio.to_thread(throwaway_pg.stop)
        clock.set(clock.now() + timedelta(hours=2))  # every retry falls due while the database is away
        receiver.status = 200  # and the receiver is back before the database is
        await asyncio.sleep(2)
        await asyncio.to_thread(throwaway_pg.start)

        await eventually(lambda: len(receiver.of_type("ticket.updated")) >= len(texts), timeout=60)
        await asyncio.sleep(1)  # anything doubled would arrive by now
        delivered = receiver.of_type("ticket.updated")
        ids = [r.headers["webhook-id"] for r in delivered]
        assert len(ids) == len(set(ids)) == len(texts)
        assert [r.json["data"]["message"]["text"] for r in delivered] == texts
