"""ORM model of an assignment."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_routing.db import Base


class Assignment(Base):
    """The owner of one ticket. A row with no agent records a ticket resolved before routing saw
    it, so a late `ticket.created` does not assign a finished ticket."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_open_agent", "agent_id", postgresql_where=text("closed_at IS NULL")),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ticket_number: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[str | None] = mapped_column(String(100))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgentLoad(Base):
    """How many open tickets an agent owns, kept as a counter so choosing the least-loaded
    agent costs one indexed read however many tickets are open (it outlives organisation
    changes, which replace the agent rows)."""

    __tablename__ = "agent_load"

    agent_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    open_tickets: Mapped[int] = mapped_column(default=0)
