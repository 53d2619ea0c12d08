"""ORM models of store counters and their queue numbers."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class Counter(Base):
    """A store or branch counter customers queue at, registered by an admin."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The letters before each day's numbers (`A` → A001, A002…).
    prefix: Mapped[str] = mapped_column(String(4))
    # The counter's local time zone: numbering starts again at its local midnight.
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))


class QueueEntry(Base):
    """One customer's number at a counter, from taking it until served (a ticket) or cancelled."""

    __tablename__ = "counter_entries"
    __table_args__ = (
        UniqueConstraint("counter", "day", "seq", name="uq_counter_entries_number"),
        # The live queue of a counter, in order.
        Index("ix_counter_entries_queue", "counter", "joined_at", postgresql_where=text("status = 'waiting'")),
        # A client's own numbers at a counter (a queue is owned per channel client).
        Index("ix_counter_entries_owner", "channel_client_id", "counter"),
        # The service rate: a counter's latest serves.
        Index("ix_counter_entries_served", "counter", "served_at", postgresql_where=text("status = 'served'")),
        # The wait-exceeded sweep: waiting entries not yet announced, longest waiting first.
        Index(
            "ix_counter_entries_unannounced",
            "joined_at",
            postgresql_where=text("status = 'waiting' AND wait_exceeded_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    counter: Mapped[str] = mapped_column(ForeignKey("counters.name"))
    day: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    # The customer's pseudonym; the counter's own reference only sealed, to open their ticket with.
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_reference: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Personal: sealed with the customer's key like tickets' texts (ticketloop_shared/sealing.py); optional.
    customer_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    channel_client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_clients.id"))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    served_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When `care.wait_exceeded` was emitted for this entry (set once, with the outbox row).
    wait_exceeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column()
    ticket_number: Mapped[str | None] = mapped_column(String(32))
