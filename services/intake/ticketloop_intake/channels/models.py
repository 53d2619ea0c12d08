"""ORM models of a channel client and its keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class ChannelClient(Base):
    """A registered client; an inactive one is refused whatever key it sends."""

    __tablename__ = "channel_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Bumped by every change to the client or its keys: its `ETag`, named by `If-Match`.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"), default=1)
    # When the client or its keys last changed (database time): every intake process re-reads
    # the recent ones each second and forgets those cached keys, so a revocation holds everywhere.
    keys_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


class ChannelKey(Base):
    """One API key of a client; only its SHA-256 is stored. Valid while not revoked and before
    `expires_at` (set when a newer key replaced it: the overlap lets the client switch over)."""

    __tablename__ = "channel_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_clients.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the key was last accepted, to the minute or so: recorded in memory per request and
    # written by a periodic job, never by the request itself.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
