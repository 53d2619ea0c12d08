"""Change notices on a real PostgreSQL: a notice reaches every listening process at commit and
never for a rollback; a revocation stored through one replica is refused by another within
about a second with the periodic re-read turned off; and after the listening connection is lost
the list is read again as soon as it is back."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.support import RunningService, admin_headers, agent_headers, eventually, serve
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.db import asyncpg_dsn, make_engine
from ticketloop_shared.notices import APPLICATION_NAME, Notices, notify
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.state import ProcessState, Slot

CHANGED = Slot("test changed", asyncio.Event)
# Long enough that only a notice (or a reconnect) can explain a change seen within the test.
NEVER = 3600.0

Replicas = tuple[RunningService, RunningService]


def _jti(headers: dict[str, str]) -> str:
    payload = headers["Authorization"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


async def test_a_notice_reaches_every_listener_at_commit_and_never_for_a_rollback(
    new_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await new_database("notices")
    states = [ProcessState(), ProcessState()]
    listeners = [Notices(asyncpg_dsn(url), state) for state in states]
    for listener in listeners:
        listener.subscribe("test_changed", CHANGED)
    tasks = [asyncio.create_task(listener.run()) for listener in listeners]
    engine = make_engine(url)
    try:
        for listener in listeners:
            await asyncio.wait_for(listener.connected.wait(), 10)
        for state in states:
            assert state[CHANGED].is_set()  # connecting counts as a change: re-read at once
            state[CHANGED].clear()

        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await notify(conn, "test_changed")
                raise RuntimeError("rolled back")
        async with engine.begin() as conn:
            await notify(conn, "other_channel")
        await asyncio.sleep(0.3)
        assert not any(state[CHANGED].is_set() for state in states)

        async with engine.begin() as conn:
            await notify(conn, "test_changed")
            await asyncio.sleep(0.2)
            assert not any(state[CHANGED].is_set() for state in states)  # not before the commit
        for state in states:
            await asyncio.wait_for(state[CHANGED].wait(), 1.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.dispose()


@pytest.fixture
async def replicas(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[Replicas]:
    database = await new_database("routing")
    quiet = platform.model_copy(update={"revocation_refresh_seconds": NEVER, "notice_safety_net_seconds": NEVER})

    def settings(replica: str) -> RoutingSettings:
        return RoutingSettings(database_url=database, platform=quiet, replica_id=replica, consumer_enabled=False)

    async with (
        serve(create_routing(settings("a")), wait_consumer=False) as a,
        serve(create_routing(settings("b")), wait_consumer=False) as b,
    ):
        yield a, b


async def _refused(service: RunningService, headers: dict[str, str]) -> bool:
    r = await service.client.get("/v1/organisation", headers=headers)
    return r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"


async def _accepted(service: RunningService, headers: dict[str, str]) -> bool:
    return (await service.client.get("/v1/organisation", headers=headers)).status_code == 200


async def test_a_revocation_through_one_replica_is_refused_by_the_other_within_seconds(replicas: Replicas) -> None:
    a, b = replicas
    leaked = agent_headers("agent-leaky")
    await eventually(lambda: _accepted(b, leaked), timeout=10)  # b has read its (empty) list
    r = await a.client.post(
        "/v1/token-revocations", json={"jti": _jti(leaked), "reason": "pasted in a chat"}, headers=admin_headers()
    )
    assert r.status_code == 201, r.text
    started = asyncio.get_running_loop().time()
    await eventually(lambda: _refused(b, leaked), timeout=5, interval=0.02)
    # About a second on a quiet machine; far below the hour the safety net would take.
    assert asyncio.get_running_loop().time() - started < 3.0
    await eventually(lambda: _refused(a, leaked), timeout=2)


async def test_after_the_listening_connection_is_lost_the_list_is_read_again_at_once(replicas: Replicas) -> None:
    a, b = replicas
    leaked = agent_headers("agent-sneaky")
    assert await _accepted(a, leaked) and await _accepted(b, leaked)
    runtime = b.runtime
    dsn = asyncpg_dsn(runtime.settings.database_url)
    conn = await asyncpg.connect(dsn)
    try:
        # Stored behind the services' backs: no notice, so nobody re-reads for it...
        await conn.execute(
            "INSERT INTO revoked_tokens (revocation_id, jti, expires_at) VALUES (gen_random_uuid(), $1, $2)",
            _jti(leaked),
            datetime.now(UTC) + timedelta(hours=1),
        )
        await asyncio.sleep(1.0)
        assert await _accepted(a, leaked) and await _accepted(b, leaked)
        # ...until their listening connections are cut: back, they read the list again at once.
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            APPLICATION_NAME,
        )
        assert killed == 2
    finally:
        await conn.close()
    await eventually(lambda: _refused(a, leaked), timeout=5)
    await eventually(lambda: _refused(b, leaked), timeout=5)
    await asyncio.wait_for(runtime.notices.connected.wait(), 5)
