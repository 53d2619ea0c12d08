"""ORM model of a channel client."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class ChannelClient(Base):
    """A registered client; only the SHA-256 of its API key is stored."""

    __tablename__ = "channel_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
