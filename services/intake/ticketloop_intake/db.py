"""intake's metadata: its tables plus the outbox and inbox."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from ticketloop_shared.audit import audit_table
from ticketloop_shared.db import new_metadata
from ticketloop_shared.runtime import Messaging


class Base(DeclarativeBase):
    """Declarative base of intake's ORM models."""

    metadata = new_metadata()


messaging = Messaging.on(Base.metadata)
# Erasures and every read of a customer's unmasked data (append-only).
audit = audit_table(Base.metadata)
