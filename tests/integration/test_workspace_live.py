"""Live notifications end to end on the real broker: catalog events published to the topics reach
the right person's server-sent event stream, served by uvicorn and read over real HTTP; a
reconnect with Last-Event-ID gets exactly what it missed, also from a restarted workspace."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.builders import Story
from tests.support import TEST_SECRET, eventually, publish, serve
from ticketloop_shared.api import _install_error_handlers
from ticketloop_shared.auth import Role, issue_token, require_staff
from ticketloop_shared.events import ClockKind, EscalationTarget
from ticketloop_shared.settings import PlatformSettings
from ticketloop_workspace.notifications import STATE_KEY, LiveNotifications, LiveSettings, events_router
from ticketloop_workspace.notifications.consumer import TAIL_FETCH_WAIT_MS
from ticketloop_workspace.notifications.domain import Audience, notification_id

SALES, BILLING = "after_sales", "billing"
ANNA, BEN, SUE = "agent-anna", "agent-ben", "sup-sue"


def token(sub: str, role: Role = Role.AGENT, department: str | None = SALES, *, ttl: int = 3600) -> str:
    return issue_token(TEST_SECRET, sub=sub, role=role, department=department, ttl_seconds=ttl)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Workspace:
    """A small app serving only the live stream (bearer tokens stand in for the session cookie)."""

    url: str
    live: LiveNotifications


@contextlib.asynccontextmanager
async def serving(platform: PlatformSettings) -> AsyncIterator[Workspace]:
    """The stream wired in as the workspace app wires it: state, lifespan, router."""
    settings = LiveSettings(live_heartbeat_seconds=1, live_ready_timeout_seconds=30, live_reconnect_seconds=0.2)
    live = LiveNotifications(platform, settings, client_id="test-workspace-live")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live.start()
        try:
            yield
        finally:
            await live.stop()

    app = FastAPI(lifespan=lifespan)
    _install_error_handlers(app)  # the shared JSON errors (401 for a missing token)
    app.state.auth_secret = TEST_SECRET
    app.state.token_max_ttl_seconds = 86_400
    setattr(app.state, STATE_KEY, live)
    app.include_router(events_router(require_staff))
    async with serve(app, wait_consumer=False) as running:
        await asyncio.wait_for(live.hub.ready.wait(), timeout=30)
        yield Workspace(running.url, live)


@dataclass
class Stream:
    """One browser's connection: the events it has read so far, and whether it has ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]

    def ids(self) -> list[str]:
        return [e["id"] for e in self.events if "id" in e]


async def _read(url: str, bearer: str, stream: Stream, last_event_id: str | None) -> None:
    """Read the stream as EventSource does: fields until a blank line, comments ignored."""
    headers = {"Authorization": f"Bearer {bearer}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client,
            client.stream("GET", f"{url}/workspace/events", headers=headers) as response,
        ):
            assert response.status_code == 200, response.status_code
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line.startswith("retry:"):
                    stream.opened.set()
                elif line == "":
                    if "event" in fields:
                        fields["data"] = json.loads(fields["data"])
                        stream.events.append(fields)
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
    finally:
        stream.ended.set()


@contextlib.asynccontextmanager
async def connected(ws: Workspace, bearer: str, *, last_event_id: str | None = None) -> AsyncIterator[Stream]:
    """A browser connected (its stream open) for the block; it goes away at the end."""
    stream = Stream()
    task = asyncio.create_task(_read(ws.url, bearer, stream, last_event_id))
    try:
        await eventually(lambda: stream.opened.is_set() or task.done(), timeout=30)
        if task.done():
            task.result()
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_person_gets_the_notifications_of_their_tickets_and_department(
    platform: PlatformSettings,
) -> None:
    story = Story(created_at=now())
    assigned = story.assigned(now(), ANNA, department=SALES)
    async with (
        serving(platform) as ws,
        connected(ws, token(ANNA)) as anna,
        connected(ws, token(BEN, department=BILLING)) as ben,
        connected(ws, token(SUE, Role.SUPERVISOR)) as sue,
        connected(ws, token("root", Role.ADMIN, None)) as admin,
    ):
        await publish(platform, story.created(), story.queued(now()), assigned, story.message_received(now()))
        await eventually(lambda: len(anna.events) >= 3)
        await publish(
            platform,
            story.warning(ClockKind.FIRST_RESPONSE, now()),
            story.breached(ClockKind.FIRST_RESPONSE, now()),
            story.escalated(ClockKind.FIRST_RESPONSE, now(), level=2, notify=EscalationTarget.SUPERVISOR),
            story.replied(now()),
        )
        await eventually(lambda: len(anna.events) >= 5 and len(sue.events) >= 3 and len(admin.events) >= 1)
        await asyncio.sleep(1.0)  # time for anything wrongly addressed to arrive too
        # Anna saw the ticket wait in her department's queue, then everything about her ticket.
        assert anna.kinds() == ["queued", "assigned", "customer_message", "sla_warning", "sla_breached"]
        note = anna.events[1]
        assert note["id"] == notification_id(assigned.id, Audience.person(ANNA))
        assert note["data"]["id"] == note["id"]
        assert note["data"]["ticket_id"] == str(story.ticket_id)
        assert note["data"]["ticket_number"] == story.number
        assert note["data"]["department_id"] == SALES
        assert set(note["data"]) == {"id", "kind", "ticket_id", "ticket_number", "title", "at", "department_id"}
        # The supervisor: the queue moving (it waited, then was taken off it) and the escalation.
        assert sue.kinds() == ["queued", "queued", "escalation"]
        assert admin.kinds() == ["escalation"]
        # Another department's agent hears nothing of it.
        assert ben.events == []


async def test_a_reconnect_with_last_event_id_gets_exactly_what_was_missed(platform: PlatformSettings) -> None:
    story = Story(created_at=now())
    async with serving(platform) as ws:
        async with connected(ws, token(ANNA)) as first:
            await publish(platform, story.created(), story.assigned(now(), ANNA), story.message_received(now()))
            await eventually(lambda: len(first.events) == 2)
        last_seen = first.events[-1]["id"]
        missed = [story.message_received(now()) for _ in range(3)]
        await publish(platform, *missed)
        await eventually(lambda: len(ws.live.hub.held(Audience.person(ANNA))) == 5)
        async with connected(ws, token(ANNA), last_event_id=last_seen) as resumed:
            await eventually(lambda: len(resumed.events) >= 3)
            await asyncio.sleep(0.5)
            assert resumed.ids() == [notification_id(e.id, Audience.person(ANNA)) for e in missed]
            # And it stays live after the backlog.
            later = story.message_received(now())
            await publish(platform, later)
            await eventually(lambda: len(resumed.events) == 4)
            assert resumed.ids()[-1] == notification_id(later.id, Audience.person(ANNA))


async def test_an_idle_tailer_fetches_at_the_idle_pace_and_a_notification_makes_it_quick_again(
    platform: PlatformSettings,
) -> None:
    quick = platform.model_copy(update={"kafka_idle_after_seconds": 0.3, "kafka_idle_fetch_max_wait_ms": 800})
    story = Story(created_at=now())
    async with serving(quick) as ws:

        def held() -> int | None:
            consumer = ws.live.tailer.consumer
            fetcher = getattr(consumer, "_fetcher", None)
            return None if fetcher is None else int(fetcher._fetch_max_wait_ms)  # noqa: SLF001

        await eventually(lambda: held() == 800, timeout=10)
        async with connected(ws, token(ANNA)) as stream:
            await publish(quick, story.created(), story.assigned(now(), ANNA))
            await eventually(lambda: len(stream.events) == 1)
            assert held() == TAIL_FETCH_WAIT_MS  # records came: short again
        await eventually(lambda: held() == 800, timeout=10)


async def test_a_restarted_workspace_rebuilds_from_the_topics_and_resumes(platform: PlatformSettings) -> None:
    story = Story(created_at=now())
    async with serving(platform) as ws, connected(ws, token(ANNA)) as before:
        await publish(platform, story.created(), story.assigned(now(), ANNA), story.message_received(now()))
        await eventually(lambda: len(before.events) == 2)
    last_seen = before.events[-1]["id"]
    # While no workspace runs, two more things happen on Anna's ticket.
    missed = [story.message_received(now()), story.breached(ClockKind.FIRST_RESPONSE, now())]
    await publish(platform, *missed)
    async with serving(platform) as ws, connected(ws, token(ANNA), last_event_id=last_seen) as after:
        await eventually(lambda: len(after.events) >= 2)
        await asyncio.sleep(0.5)
        assert after.ids() == [notification_id(e.id, Audience.person(ANNA)) for e in missed]
        assert after.kinds() == ["customer_message", "sla_breached"]
        assert ws.live.book.get(story.ticket_id) is not None  # the owner was learnt again


async def test_the_stream_ends_when_the_token_expires(platform: PlatformSettings) -> None:
    async with serving(platform) as ws, connected(ws, token(ANNA, ttl=2)) as stream:
        await asyncio.wait_for(stream.ended.wait(), timeout=10)
        assert stream.kinds() == ["expired"]


@pytest.mark.parametrize("bearer", ["", "not-a-token"])
async def test_no_stream_without_a_valid_token(platform: PlatformSettings, bearer: str) -> None:
    async with serving(platform) as ws, httpx.AsyncClient() as client:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        response = await client.get(f"{ws.url}/workspace/events", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in ("missing_credentials", "invalid_token")
