"""retrospective's metadata: its read models plus the outbox, inbox and audit log."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from ticketloop_shared.audit import audit_table
from ticketloop_shared.db import new_metadata
from ticketloop_shared.runtime import Messaging


class Base(DeclarativeBase):
    """Declarative base of retrospective's ORM models."""

    metadata = new_metadata()


messaging = Messaging.on(Base.metadata)
# Every change staff make here (care rules, rectification items), append-only.
audit = audit_table(Base.metadata)
