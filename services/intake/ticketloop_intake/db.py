"""intake's metadata (its tables plus the outbox and inbox) and its autocommit statement pool."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.orm import DeclarativeBase

from ticketloop_shared.audit import audit_table
from ticketloop_shared.db import new_metadata
from ticketloop_shared.runtime import Messaging
from ticketloop_shared.unit_of_work import UnitOfWork


class Base(DeclarativeBase):
    """Declarative base of intake's ORM models."""

    metadata = new_metadata()


messaging = Messaging.on(Base.metadata)
# Erasures and every read of a customer's unmasked data (append-only).
audit = audit_table(Base.metadata)


def statements(uow: UnitOfWork[Any]) -> asyncpg.Pool:
    """intake's autocommit pool (the runtime always opens one for intake): the hot path writes a
    ticket in one statement on it, and numbers and customer keys are taken on it."""
    if uow.statements is None:
        raise RuntimeError("intake needs the unit of work's statement pool (db_statement_pool_size)")
    return uow.statements
