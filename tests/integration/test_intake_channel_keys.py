"""Channel keys over real HTTP on a real PostgreSQL, with two intake replicas on one database:
rotation with an overlap, revocation and deactivation that hold on every replica within about
a second, last use recorded without a write per request, and every change audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from tests.support import RunningService, admin_headers, channel_headers, eventually, serve
from ticketloop_intake.app import create_app
from ticketloop_intake.channels.scheduled import record_last_used
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.settings import PlatformSettings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
Replicas = tuple[RunningService, RunningService]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def replicas(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], clock: FrozenClock
) -> AsyncIterator[Replicas]:
    # Keys cached for five minutes and the safety-net re-read an hour apart: only the change
    # notice can make a replica refuse one in time.
    database = await new_database("intake")
    platform = platform.model_copy(update={"notice_safety_net_seconds": 3600.0})

    def settings(replica: str) -> IntakeSettings:
        return IntakeSettings(
            database_url=database,
            platform=platform,
            replica=replica,
            consumer_enabled=False,
            channel_key_cache_seconds=300,
            channel_key_last_used_seconds=3600,
        )

    async with serve(create_app(settings("a"), clock=clock)) as a, serve(create_app(settings("b"), clock=clock)) as b:
        yield a, b


async def register(service: RunningService, name: str = "shop") -> dict[str, Any]:
    r = await service.client.post(
        "/v1/channel-clients", json={"name": name, "channels": ["web"]}, headers=admin_headers()
    )
    assert r.status_code == 201 and r.headers["ETag"] == '"1"', r.text
    created: dict[str, Any] = r.json()
    return created


async def works(service: RunningService, key: str) -> bool:
    r = await service.client.get("/v1/channel/tickets", headers=channel_headers(key))
    assert r.status_code in (200, 401), r.text
    if r.status_code == 401:
        assert r.json()["error"]["code"] == "invalid_api_key"
    return r.status_code == 200


async def detail(service: RunningService, client_id: str) -> dict[str, Any]:
    r = await service.client.get(f"/v1/channel-clients/{client_id}", headers=admin_headers())
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{r.json()["version"]}"'
    found: dict[str, Any] = r.json()
    return found


def if_match(version: int) -> dict[str, str]:
    return {**admin_headers(), "If-Match": f'"{version}"'}


async def audit_of(service: RunningService, client_id: str) -> list[str]:
    r = await service.client.get(
        "/v1/audit", params={"subject": f"channel_client:{client_id}"}, headers=admin_headers()
    )
    return [e["action"] for e in reversed(r.json()["items"])]


async def test_a_rotated_key_overlaps_the_new_one_then_is_refused(replicas: Replicas, clock: FrozenClock) -> None:
    a, b = replicas
    created = await register(a)
    old, path = created["api_key"], f"/v1/channel-clients/{created['id']}/keys"
    assert await works(a, old) and await works(b, old)

    r = await a.client.post(path, headers=admin_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
    r = await a.client.post(path, headers=if_match(7))
    assert (r.status_code, r.json()["error"]["code"]) == (412, "channel_client_changed")
    r = await a.client.post(path, headers=if_match(1))
    assert r.status_code == 201 and r.headers["ETag"] == '"2"', r.text
    rotated = r.json()
    new = rotated["api_key"]
    assert new != old and "api_key" not in (await detail(a, created["id"]))
    keys = {k["id"]: k for k in rotated["keys"]}
    assert keys[rotated["key_id"]]["state"] == "valid"
    [previous] = [k for k in keys.values() if k["id"] != rotated["key_id"]]
    assert previous["state"] == "expiring" and previous["expires_at"] == "2026-12-02T09:00:00Z"  # 24 h, the default

    # Both work during the overlap, on both replicas (the old one even from their caches) ...
    for replica in (a, b):
        assert await works(replica, old) and await works(replica, new)
    # ... and past it the old one is refused, the new one not.
    clock.set(T0 + timedelta(hours=24, seconds=1))
    for replica in (a, b):
        # A replica that cached the old key before the rotation learns its expiry within a second.
        await eventually(partial(_refused, replica, old), timeout=5)
        assert await works(replica, new)
    assert [k["state"] for k in (await detail(b, created["id"]))["keys"]] == ["valid", "expired"]

    # An overlap of zero refuses the replaced key at once.
    r = await a.client.post(path, json={"overlap_hours": 0}, headers=if_match(2))
    assert r.status_code == 201, r.text
    assert not await works(a, new) and await works(a, r.json()["api_key"])
    assert await audit_of(a, created["id"]) == [
        "channel_client.registered",
        "channel_key.rotated",
        "channel_key.rotated",
    ]


async def test_a_revoked_key_is_refused_at_once_and_on_every_replica_within_a_second(replicas: Replicas) -> None:
    a, b = replicas
    created = await register(a)
    key = created["api_key"]
    assert await works(a, key) and await works(b, key)  # now cached on both, for five minutes
    [only] = (await detail(a, created["id"]))["keys"]
    revoke = f"/v1/channel-clients/{created['id']}/keys/{only['id']}"
    r = await a.client.delete(revoke, headers=admin_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
    r = await a.client.delete(revoke, headers=if_match(1))
    assert r.status_code == 200 and r.json()["keys"][0]["state"] == "revoked", r.text
    assert not await works(a, key)  # the replica that revoked it: at once
    started = asyncio.get_running_loop().time()
    await eventually(lambda: _refused(b, key), timeout=3)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert await audit_of(b, created["id"]) == ["channel_client.registered", "channel_key.revoked"]


async def _refused(service: RunningService, key: str) -> bool:
    return not await works(service, key)


async def test_a_deactivated_client_is_refused_everywhere_until_reactivated(replicas: Replicas) -> None:
    a, b = replicas
    created = await register(a)
    key, path = created["api_key"], f"/v1/channel-clients/{created['id']}"
    assert await works(b, key)
    r = await a.client.patch(path, json={"active": False}, headers=admin_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (428, "if_match_required")
    r = await a.client.patch(path, json={"active": False}, headers=if_match(1))
    assert r.status_code == 200 and r.json()["active"] is False and r.headers["ETag"] == '"2"'
    assert not await works(a, key)
    await eventually(lambda: _refused(b, key), timeout=3)
    r = await a.client.patch(path, json={"active": True}, headers=if_match(1))  # stale
    assert (r.status_code, r.json()["error"]["code"]) == (412, "channel_client_changed")
    r = await a.client.patch(path, json={"active": True}, headers=if_match(2))
    assert r.status_code == 200 and r.json()["active"] is True
    assert await works(a, key) and await works(b, key)
    assert await audit_of(a, created["id"]) == [
        "channel_client.registered",
        "channel_client.deactivated",
        "channel_client.reactivated",
    ]


async def test_last_use_is_kept_to_the_minute_without_a_write_per_request(
    replicas: Replicas, clock: FrozenClock
) -> None:
    a, _ = replicas
    created = await register(a)
    for _ in range(5):
        assert await works(a, created["api_key"])
    assert (await detail(a, created["id"]))["keys"][0]["last_used_at"] is None  # the requests wrote nothing
    clock.set(T0 + timedelta(minutes=3))
    assert await works(a, created["api_key"])
    assert await record_last_used(a.runtime) == 1  # the periodic job: one write for the key
    assert (await detail(a, created["id"]))["keys"][0]["last_used_at"] == "2026-12-01T09:03:00Z"
    assert await record_last_used(a.runtime) == 0  # nothing used since: nothing written


async def test_only_admins_manage_channel_clients_and_unknown_ones_are_404(replicas: Replicas) -> None:
    a, _ = replicas
    created = await register(a)
    r = await a.client.get(f"/v1/channel-clients/{created['id']}", headers=channel_headers(created["api_key"]))
    assert r.status_code == 401
    missing = "00000000-0000-7000-8000-00000000abcd"
    r = await a.client.patch(f"/v1/channel-clients/{missing}", json={"active": False}, headers=if_match(1))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "channel_client_not_found")
    r = await a.client.delete(f"/v1/channel-clients/{created['id']}/keys/{missing}", headers=if_match(1))
    assert (r.status_code, r.json()["error"]["code"]) == (404, "channel_key_not_found")
