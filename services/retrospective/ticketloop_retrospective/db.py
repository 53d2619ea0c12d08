"""retrospective's metadata: its read models plus the outbox and inbox."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from ticketloop_shared.db import new_metadata
from ticketloop_shared.runtime import Messaging


class Base(DeclarativeBase):
    """Declarative base of retrospective's ORM models."""

    metadata = new_metadata()


messaging = Messaging.on(Base.metadata)
