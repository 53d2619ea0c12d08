"""Rules about channel clients and their keys."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels import repository
from ticketloop_intake.channels.models import ChannelClient
from ticketloop_intake.tickets.schemas import Channel
from ticketloop_shared.errors import Conflict, Unauthorized

DEV_CLIENT_NAME = "development"


def hash_key(api_key: str) -> str:
    """Keys are random and long, so a plain SHA-256 is enough (no need for a slow KDF)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


async def authenticate(session: AsyncSession, api_key: str | None) -> ChannelClient:
    """The client owning `api_key`, or a precise 401."""
    if not api_key:
        raise Unauthorized("missing X-Api-Key header", code="missing_credentials")
    client = await repository.get_by_key_hash(session, hash_key(api_key))
    if client is None:
        raise Unauthorized("unknown or revoked API key", code="invalid_api_key")
    return client


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
