"""ORM models of assignments, agents' live state and the decisions a ticket went through."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Identity, Index, Sequence, String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_routing.db import Base

# Hands out turns: an agent's `last_turn` is the turn of the ticket it was given last, so round
# robin picks the smallest (the one given a ticket least recently).
AGENT_TURNS = Sequence("agent_turns", metadata=Base.metadata)


class Assignment(Base):
    """Where one ticket stands in routing: its owner (`assigned`), its place in a department's
    queue (`queued`), or `closed` (the last owner kept, for a reopen). A closed row with no ticket
    number records a ticket resolved before routing saw it, so a late `ticket.created` does not
    assign a finished ticket. The ticket's facts kept here let routing re-score and re-route it."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index("ix_assignments_open_agent", "agent_id", postgresql_where=text("closed_at IS NULL")),
        Index("ix_assignments_queue", "department_id", "queue_rank", postgresql_where=text("state = 'queued'")),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ticket_number: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[str | None] = mapped_column(String(100))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(10), server_default="assigned")
    # The event that announced the current decision: assigned, reassigned or queued.
    decision: Mapped[str | None] = mapped_column(String(12))
    channel: Mapped[str | None] = mapped_column(String(40))
    urgency: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[str | None] = mapped_column(String(100))
    segment: Mapped[str | None] = mapped_column(String(20))
    required_skills: Mapped[list[str]] = mapped_column(ARRAY(String(100)), server_default="{}")
    # The priority score without its waiting term; `boost` is what SLA breaches added to it.
    score: Mapped[float | None] = mapped_column(Float)
    boost: Mapped[float] = mapped_column(Float, server_default="0")
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Only while queued: the order of the department's queue (domain.queue_rank), higher first.
    queue_rank: Mapped[float | None] = mapped_column(Float)
    # The last reply, update or plan of the owner since it was assigned (an away owner's
    # untouched tickets go to someone else).
    touched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last urgency change was applied (an older one arriving later is ignored).
    revised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The same for the category, kept apart: an urgency change is not stale for a newer category.
    recategorised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last resolve, close or reopen applied happened: one older than it arriving late is
    # stale (a resolve overtaken by the reopen after it, a reopen overtaken by the close after it),
    # so the newest of them decides whether the ticket is open, whatever order they came in.
    lifecycle_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class AssignmentHistory(Base):
    """A decision about a ticket that a later one replaced (reassigned, dequeued, reopened)."""

    __tablename__ = "assignment_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(10))
    department_id: Mapped[str | None] = mapped_column(String(100))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class AgentLoad(Base):
    """An agent's live state: open tickets (a counter, so choosing costs one indexed read however
    many tickets are open), presence and its round-robin turn. It outlives organisation changes,
    which replace the agent rows; every configured agent has one."""

    __tablename__ = "agent_load"

    agent_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    open_tickets: Mapped[int] = mapped_column(default=0, server_default="0")
    presence: Mapped[str] = mapped_column(String(10), server_default="available")
    presence_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_turn: Mapped[int | None] = mapped_column(BigInteger)


class ParkedEvent(Base):
    """An event about a ticket routing has not seen created yet (a reopen, priority change or
    recategorisation that overtook `ticket.created`): kept as it came, applied in order of its
    time in the transaction that first routes the ticket, then deleted."""

    __tablename__ = "parked_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
