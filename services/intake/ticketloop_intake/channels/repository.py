"""All SQL about channel clients and their keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ticketloop_intake.channels.models import ChannelClient, ChannelKey


async def get_by_key_hash(
    session: AsyncSession, key_hash: str, *, now: datetime
) -> tuple[ChannelClient, ChannelKey] | None:
    """The active client holding this key, and the key, while the key is valid at `now`."""
    row = (
        await session.execute(
            select(ChannelClient, ChannelKey)
            .join(ChannelKey, ChannelKey.client_id == ChannelClient.id)
            .where(
                ChannelKey.key_hash == key_hash,
                ChannelKey.revoked_at.is_(None),
                (ChannelKey.expires_at.is_(None)) | (ChannelKey.expires_at > now),
                ChannelClient.active.is_(True),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def get(session: AsyncSession, client_id: uuid.UUID, *, for_update: bool = False) -> ChannelClient | None:
    """One client; `for_update` holds it (and so its keys' changes) until the transaction ends."""
    stmt = select(ChannelClient).where(ChannelClient.id == client_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def get_by_name(session: AsyncSession, name: str) -> ChannelClient | None:
    """The client registered under `name`."""
    return await session.scalar(select(ChannelClient).where(ChannelClient.name == name))


async def list_all(session: AsyncSession) -> Sequence[ChannelClient]:
    """Every client, oldest first."""
    return (await session.scalars(select(ChannelClient).order_by(ChannelClient.created_at))).all()


async def keys_of(session: AsyncSession, client_id: uuid.UUID) -> Sequence[ChannelKey]:
    """A client's keys, newest first (revoked and expired ones too: they are its history)."""
    stmt = select(ChannelKey).where(ChannelKey.client_id == client_id).order_by(ChannelKey.created_at.desc())
    return (await session.scalars(stmt.execution_options(populate_existing=True))).all()


def add(session: AsyncSession, row: ChannelClient | ChannelKey) -> None:
    """Stage a new client or key."""
    session.add(row)


async def upsert(session: AsyncSession, *, name: str, channels: list[str]) -> uuid.UUID:
    """Create or refresh an active client by name (used to seed the development client); its id."""
    client_id = await session.scalar(
        insert(ChannelClient)
        .values(name=name, channels=channels, active=True)
        .on_conflict_do_update(
            index_elements=[ChannelClient.name],
            set_={
                "channels": channels,
                "active": True,
                "version": ChannelClient.version + 1,
                "keys_changed_at": func.now(),
            },
        )
        .returning(ChannelClient.id)
    )
    if not isinstance(client_id, uuid.UUID):
        raise RuntimeError("an upsert returning its row returned none")
    return client_id


async def keep_only_key(session: AsyncSession, *, client_id: uuid.UUID, key_hash: str, now: datetime) -> None:
    """Make `key_hash` the client's one valid key: added (or revived) and every other revoked."""
    await session.execute(
        insert(ChannelKey)
        .values(id=uuid.uuid4(), client_id=client_id, key_hash=key_hash)
        .on_conflict_do_update(
            index_elements=[ChannelKey.key_hash],
            set_={"client_id": client_id, "revoked_at": None, "expires_at": None},
        )
    )
    await session.execute(
        update(ChannelKey)
        .where(ChannelKey.client_id == client_id, ChannelKey.key_hash != key_hash, ChannelKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def changed_clients(engine: AsyncEngine, *, lookback_seconds: float) -> list[tuple[uuid.UUID, datetime]]:
    """Clients whose keys or state changed within the last `lookback_seconds` (database time)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(ChannelClient.id, ChannelClient.keys_changed_at).where(
                ChannelClient.keys_changed_at >= func.now() - timedelta(seconds=lookback_seconds)
            )
        )
        return [(r[0], r[1]) for r in rows]


async def record_last_used(engine: AsyncEngine, used: dict[uuid.UUID, datetime]) -> None:
    """Move each key's `last_used_at` forward to when it was last accepted (never back)."""
    if not used:
        return
    at = bindparam("at", type_=ChannelKey.__table__.c.last_used_at.type)
    stmt = (
        update(ChannelKey)
        .where(ChannelKey.id == bindparam("key_id"))
        .values(last_used_at=func.greatest(func.coalesce(ChannelKey.last_used_at, at), at))
    )
    async with engine.begin() as conn:
        await conn.execute(stmt, [{"key_id": key_id, "at": when} for key_id, when in used.items()])
