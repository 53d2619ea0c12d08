"""ORM model of the SLA clocks each ticket runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_shared.events import ClockKind, ClockOutcome
from ticketloop_sla.db import Base


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class SlaClock(Base):
    """One commitment on one ticket (first response or resolution) and how it ended."""

    __tablename__ = "clocks"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ClockKind), name="kind"),
        CheckConstraint(_one_of("status", ClockOutcome), name="status"),
        # The breach sweep reads only running clocks, earliest deadline first.
        Index("ix_clocks_running_due", "due_at", postgresql_where=text("status = 'running'")),
        Index("ix_clocks_breached", "breached_at", postgresql_where=text("status = 'breached'")),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
