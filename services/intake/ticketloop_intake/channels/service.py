"""Rules about channel clients and their keys."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels import repository
from ticketloop_intake.channels.models import ChannelClient
from ticketloop_shared.bearer import bearer_digest
from ticketloop_shared.errors import Conflict, Unauthorized
from ticketloop_shared.state import Slot, state_of
from ticketloop_shared.vocabulary import Channel

DEV_CLIENT_NAME = "development"
# The client proactive tickets (recovery, care) are filed under; migration 0008 creates it,
# inactive and with no key, so no caller can act as it.
SYSTEM_CLIENT_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
SYSTEM_CLIENT_NAME = "system"


def hash_key(api_key: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough (`ticketloop_shared.bearer`)."""
    return bearer_digest(api_key)


@dataclass(frozen=True)
class ChannelClientView:
    """What a request needs to know about the calling channel client."""

    id: uuid.UUID
    name: str
    channels: frozenset[str]


class KeyCache:
    """Verified keys remembered for a few seconds, per database: a busy channel posts hundreds
    of tickets a second with the same key. A revoked key stops working within the TTL."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, ChannelClientView]] = {}

    def get(self, db: str, key_hash: str) -> ChannelClientView | None:
        """The cached client, if still fresh."""
        entry = self._entries.get((db, key_hash))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, db: str, key_hash: str, client: ChannelClientView, ttl: float) -> None:
        """Remember a verified client for `ttl` seconds."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[(db, key_hash)] = (time.monotonic() + ttl, client)

    def clear(self) -> None:
        """Forget everything (after a key is revoked or a client changed in this process)."""
        self._entries.clear()


_KEYS = Slot("channel keys", KeyCache)


async def authenticate(session: AsyncSession, api_key: str | None, *, cache_seconds: float = 5.0) -> ChannelClientView:
    """The client owning `api_key`, or a precise 401."""
    if not api_key:
        raise Unauthorized("missing X-Api-Key header", code="missing_credentials")
    key_hash = hash_key(api_key)
    db = str(session.get_bind().engine.url)
    keys = state_of(session)[_KEYS]
    cached = keys.get(db, key_hash)
    if cached is not None:
        return cached
    client = await repository.get_by_key_hash(session, key_hash)
    if client is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    found = ChannelClientView(id=client.id, name=client.name, channels=frozenset(client.channels))
    if cache_seconds > 0:
        keys.put(db, key_hash, found, cache_seconds)
    return found


async def register(session: AsyncSession, *, name: str, channels: list[str]) -> tuple[ChannelClient, str]:
    """A new client and its key (returned once; only the hash is kept)."""
    if await repository.get_by_name(session, name) is not None:
        raise Conflict(f"a channel client named {name!r} exists", code="channel_client_exists")
    api_key = f"tlk_{secrets.token_urlsafe(32)}"
    client = ChannelClient(name=name, channels=channels, key_hash=hash_key(api_key))
    session.add(client)
    await session.flush()
    return client, api_key


async def seed_development_client(session: AsyncSession, api_key: str) -> None:
    """Make the configured development key work on every channel."""
    await repository.upsert(
        session, name=DEV_CLIENT_NAME, channels=[c.value for c in Channel], key_hash=hash_key(api_key)
    )
    state_of(session)[_KEYS].clear()
