"""ORM model of the ticket facts read model."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class TicketFact(Base):
    """What the loop has told retrospective about one ticket so far.

    Events from different services arrive in any order, so every column but the key is
    nullable: a row may start from an assignment or an SLA outcome and learn its ticket's
    details (number, category, created_at…) from a later ticket event.
    """

    __tablename__ = "ticket_facts"
    __table_args__ = (
        CheckConstraint("first_response_sla IN ('met', 'breached')", name="first_response_sla"),
        CheckConstraint("resolution_sla IN ('met', 'breached')", name="resolution_sla"),
        CheckConstraint("csat BETWEEN 1 AND 5", name="csat"),
        CheckConstraint("nps BETWEEN 0 AND 10", name="nps"),
        # Each weekly figure is a range scan on one of these instants.
        Index("ix_ticket_facts_created_at", "created_at"),
        Index("ix_ticket_facts_first_response_at", "first_response_at"),
        Index("ix_ticket_facts_resolved_at", "resolved_at"),
        Index("ix_ticket_facts_first_response_sla_at", "first_response_sla_at"),
        Index("ix_ticket_facts_resolution_sla_at", "resolution_sla_at"),
        Index("ix_ticket_facts_answered_at", "answered_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[str | None] = mapped_column(String(100))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_sla: Mapped[str | None] = mapped_column(String(10))
    first_response_sla_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_sla: Mapped[str | None] = mapped_column(String(10))
    resolution_sla_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
