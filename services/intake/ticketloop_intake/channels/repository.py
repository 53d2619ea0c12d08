"""All SQL about channel clients."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.channels.models import ChannelClient


async def get_by_key_hash(session: AsyncSession, key_hash: str) -> ChannelClient | None:
    """The active client holding this key."""
    return await session.scalar(
        select(ChannelClient).where(ChannelClient.key_hash == key_hash, ChannelClient.active.is_(True))
    )


async def get_by_name(session: AsyncSession, name: str) -> ChannelClient | None:
    """The client registered under `name`."""
    return await session.scalar(select(ChannelClient).where(ChannelClient.name == name))


async def list_all(session: AsyncSession) -> Sequence[ChannelClient]:
    """Every client, oldest first."""
    return (await session.scalars(select(ChannelClient).order_by(ChannelClient.created_at))).all()


async def upsert(session: AsyncSession, *, name: str, channels: list[str], key_hash: str) -> None:
    """Create or refresh a client by name (used to seed the development client)."""
    await session.execute(
        insert(ChannelClient)
        .values(name=name, channels=channels, key_hash=key_hash, active=True)
        .on_conflict_do_update(
            index_elements=[ChannelClient.name],
            set_={"channels": channels, "key_hash": key_hash, "active": True},
        )
    )
