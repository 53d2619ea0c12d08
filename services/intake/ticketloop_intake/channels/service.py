"""Rules about channel clients and their keys: register, rotate (the old key stays valid for an
overlap), revoke, deactivate and reactivate, each audited; and authenticating a request by its
key without a database round trip or a write per request."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import func

from ticketloop_intake.channels import repository
from ticketloop_intake.channels.models import ChannelClient, ChannelKey
from ticketloop_intake.db import audit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import etag
from ticketloop_shared.auth import Principal
from ticketloop_shared.bearer import bearer_digest
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed, Unauthorized
from ticketloop_shared.notices import notify
from ticketloop_shared.state import ProcessState, Slot, state_of
from ticketloop_shared.vocabulary import Channel

DEV_CLIENT_NAME = "development"
# The client proactive tickets (recovery, care) are filed under; migration 0008 creates it,
# inactive and with no key, so no caller can act as it.
SYSTEM_CLIENT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
SYSTEM_CLIENT_NAME = "system"
# How far back each process looks for client changes it may not have applied to its cache yet.
CHANGE_LOOKBACK_SECONDS = 600.0
# The change notice a client or key change sends (`ticketloop_shared.notices`), and what it sets
# in every intake process: the job applying the changes to the key cache.
KEYS_NOTICE = "ticketloop_channel_keys"
KEYS_CHANGED = Slot("channel keys changed", asyncio.Event)


def hash_key(api_key: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough (`ticketloop_shared.bearer`)."""
    return bearer_digest(api_key)


def new_key() -> str:
    """A fresh API key (shown once; only its hash is kept)."""
    return f"tlk_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class ChannelClientView:
    """What a request needs to know about the calling channel client."""

    id: uuid.UUID
    name: str
    channels: frozenset[str]


@dataclass(frozen=True)
class _Verified:
    client: ChannelClientView
    key_id: uuid.UUID
    expires_at: datetime | None
    fresh_until: float


class KeyCache:
    """Verified keys remembered for a few seconds, per database: a busy channel posts hundreds
    of tickets a second with the same key. A key past its expiry is refused from the cache too;
    a revocation or deactivation made by any process reaches this one through its change notice
    (`forget_changed`, woken by `KEYS_NOTICE`). It also remembers when each key was last accepted, written to the
    database once a minute or so (`flush_last_used`) rather than by the requests."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Verified] = {}
        self._changes_seen: dict[tuple[str, uuid.UUID], datetime] = {}
        self._used: dict[tuple[str, uuid.UUID], datetime] = {}

    def get(self, db: str, key_hash: str, now: datetime) -> _Verified | None:
        """The cached verification, if still fresh and the key not expired at `now`."""
        entry = self._entries.get((db, key_hash))
        if entry is None or entry.fresh_until < time.monotonic():
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            self._entries.pop((db, key_hash), None)
            return None
        return entry

    def put(self, db: str, key_hash: str, entry: _Verified) -> None:
        """Remember a verified key until `entry.fresh_until`."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[(db, key_hash)] = entry

    def used(self, db: str, key_id: uuid.UUID, at: datetime) -> None:
        """The key was accepted at `at` (a dictionary write: nothing reaches the database here)."""
        self._used[(db, key_id)] = at

    def take_used(self, db: str) -> dict[uuid.UUID, datetime]:
        """The keys of `db` accepted since the last call, with when last."""
        mine = {key: at for key, at in self._used.items() if key[0] == db}
        for key in mine:
            del self._used[key]
        return {key_id: at for (_, key_id), at in mine.items()}

    def forget_client(self, db: str, client_id: uuid.UUID) -> None:
        """Drop every cached key of one client."""
        for slot in [s for s, e in self._entries.items() if s[0] == db and e.client.id == client_id]:
            del self._entries[slot]

    def clear(self) -> None:
        """Forget every cached key."""
        self._entries.clear()

    async def forget_changed(self, engine: AsyncEngine) -> int:
        """Drop the cached keys of clients changed lately (by any process); how many were new."""
        db = str(engine.url)
        fresh = 0
        seen_now: dict[tuple[str, uuid.UUID], datetime] = {}
        for client_id, changed_at in await repository.changed_clients(engine, lookback_seconds=CHANGE_LOOKBACK_SECONDS):
            seen_now[(db, client_id)] = changed_at
            if self._changes_seen.get((db, client_id)) != changed_at:
                self.forget_client(db, client_id)
                fresh += 1
        self._changes_seen = {k: v for k, v in self._changes_seen.items() if k[0] != db} | seen_now
        return fresh

    async def flush_last_used(self, engine: AsyncEngine) -> int:
        """Write when each key used since the last flush was last accepted; how many keys."""
        used = self.take_used(str(engine.url))
        await repository.record_last_used(engine, used)
        return len(used)


_KEYS = Slot("channel keys", KeyCache)


async def authenticate(
    session: AsyncSession, api_key: str | None, *, now: datetime, cache_seconds: float = 5.0
) -> ChannelClientView:
    """The client owning `api_key`, or a precise 401 (an unknown, revoked or expired key, or a
    deactivated client's)."""
    if not api_key:
        raise Unauthorized("missing X-Api-Key header", code="missing_credentials")
    key_hash = hash_key(api_key)
    db = str(session.get_bind().engine.url)
    keys = state_of(session)[_KEYS]
    cached = keys.get(db, key_hash, now)
    if cached is None:
        found = await repository.get_by_key_hash(session, key_hash, now=now)
        if found is None:
            raise Unauthorized("unknown, revoked or expired API key", code="invalid_api_key")
        client, key = found
        cached = _Verified(
            client=ChannelClientView(id=client.id, name=client.name, channels=frozenset(client.channels)),
            key_id=key.id,
            expires_at=key.expires_at,
            fresh_until=time.monotonic() + cache_seconds,
        )
        if cache_seconds > 0:
            keys.put(db, key_hash, cached)
    keys.used(db, cached.key_id, now)
    return cached.client


async def forget_changed_keys(state: ProcessState, engine: AsyncEngine) -> int:
    """Apply client and key changes made by any process to this process's key cache."""
    return await state[_KEYS].forget_changed(engine)


async def flush_last_used(state: ProcessState, engine: AsyncEngine) -> int:
    """Write the keys' last-used times this process has collected."""
    return await state[_KEYS].flush_last_used(engine)


class ChannelClientNotFound(NotFound):
    """No channel client has this id."""

    code = "channel_client_not_found"


class ChannelClientChanged(PreconditionFailed):
    """The client is not at the version the caller named."""

    code = "channel_client_changed"


@dataclass(frozen=True)
class ClientWithKeys:
    """A client and its keys (newest first), as administrators see them."""

    client: ChannelClient
    keys: Sequence[ChannelKey]


async def _guarded(session: AsyncSession, client_id: uuid.UUID, version: int) -> ChannelClient:
    client = await repository.get(session, client_id, for_update=True)
    if client is None or client.id == SYSTEM_CLIENT_ID:
        raise ChannelClientNotFound(f"no channel client {client_id}")
    if client.version != version:
        raise ChannelClientChanged(
            f"channel client {client_id} is at version {client.version}, not {version}",
            details={"version": client.version, "current_etag": etag(client.version)},
        )
    return client


async def _changed(session: AsyncSession, client: ChannelClient) -> None:
    """A new version of the client; this process forgets its keys at once, every other one on
    the notice sent at commit."""
    client.version += 1
    client.keys_changed_at = func.now()  # database time, read back by `_reloaded`
    state_of(session)[_KEYS].forget_client(str(session.get_bind().engine.url), client.id)
    await notify(session, KEYS_NOTICE)


async def _reloaded(session: AsyncSession, client: ChannelClient) -> ClientWithKeys:
    await session.flush()
    await session.refresh(client)
    return ClientWithKeys(client=client, keys=await repository.keys_of(session, client.id))


async def read(session: AsyncSession, client_id: uuid.UUID) -> ClientWithKeys:
    """One client with its keys, or `channel_client_not_found`."""
    client = await repository.get(session, client_id)
    if client is None or client.id == SYSTEM_CLIENT_ID:
        raise ChannelClientNotFound(f"no channel client {client_id}")
    return ClientWithKeys(client=client, keys=await repository.keys_of(session, client.id))


async def register(
    session: AsyncSession, *, name: str, channels: list[str], by: Principal
) -> tuple[ChannelClient, str]:
    """A new client and its key (returned once; only the hash is kept); audited."""
    if await repository.get_by_name(session, name) is not None:
        raise Conflict(f"a channel client named {name!r} exists", code="channel_client_exists")
    api_key = new_key()
    client = ChannelClient(name=name, channels=channels, version=1)
    repository.add(session, client)
    await session.flush()
    key = ChannelKey(client_id=client.id, key_hash=hash_key(api_key))
    repository.add(session, key)
    await session.flush()
    await session.refresh(client)
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="channel_client.registered",
        subject=f"channel_client:{client.id}",
        details={"name": name, "channels": channels, "key_id": str(key.id)},
    )
    return client, api_key


async def rotate_key(
    session: AsyncSession, *, client_id: uuid.UUID, version: int, overlap: timedelta, now: datetime, by: Principal
) -> tuple[ClientWithKeys, ChannelKey, str]:
    """A new key for the client (returned once); every key valid until now stays valid for
    `overlap` more (zero: refused at once), so the client can switch without a gap. Audited."""
    client = await _guarded(session, client_id, version)
    until = now + overlap
    replaced = []
    for old in await repository.keys_of(session, client.id):
        if old.revoked_at is None and (old.expires_at is None or old.expires_at > until):
            old.expires_at = until
            replaced.append(str(old.id))
    api_key = new_key()
    key = ChannelKey(client_id=client.id, key_hash=hash_key(api_key))
    repository.add(session, key)
    await _changed(session, client)
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="channel_key.rotated",
        subject=f"channel_client:{client.id}",
        details={"key_id": str(key.id), "replaced": replaced, "old_keys_valid_until": until.isoformat()},
    )
    return await _reloaded(session, client), key, api_key


async def revoke_key(
    session: AsyncSession, *, client_id: uuid.UUID, key_id: uuid.UUID, version: int, now: datetime, by: Principal
) -> ClientWithKeys:
    """Refuse one key from now on (in every process within about a second); audited."""
    client = await _guarded(session, client_id, version)
    key = next((k for k in await repository.keys_of(session, client.id) if k.id == key_id), None)
    if key is None:
        raise NotFound(f"channel client {client_id} has no key {key_id}", code="channel_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = now
        await _changed(session, client)
        await audit_log.record(
            session,
            audit,
            actor=by,
            action="channel_key.revoked",
            subject=f"channel_client:{client.id}",
            details={"key_id": str(key.id)},
        )
    return await _reloaded(session, client)


async def set_active(
    session: AsyncSession, *, client_id: uuid.UUID, active: bool, version: int, by: Principal
) -> ClientWithKeys:
    """Deactivate a client (every key of it refused, in every process within about a second)
    or reactivate it (its keys still valid work again); audited."""
    client = await _guarded(session, client_id, version)
    if client.active != active:
        client.active = active
        await _changed(session, client)
        await audit_log.record(
            session,
            audit,
            actor=by,
            action="channel_client.reactivated" if active else "channel_client.deactivated",
            subject=f"channel_client:{client.id}",
        )
    return await _reloaded(session, client)


async def seed_development_client(session: AsyncSession, api_key: str, *, now: datetime) -> None:
    """Make the configured development key work on every channel (and only that key)."""
    client_id = await repository.upsert(session, name=DEV_CLIENT_NAME, channels=[c.value for c in Channel])
    await repository.keep_only_key(session, client_id=client_id, key_hash=hash_key(api_key), now=now)
    state_of(session)[_KEYS].clear()
