"""ORM models of sla's tickets and the clock cycles each runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_shared.events import ClockKind, ClockOutcome, EscalationTarget
from ticketloop_sla.db import Base


def _one_of(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class SlaTicket(Base):
    """What sla knows of a ticket: the facts its policy depends on, and who owns it."""

    __tablename__ = "tickets"
    __table_args__ = (
        # A segment change re-targets the customer's open tickets; a rules change, the stale ones.
        Index("ix_tickets_customer_open", "customer_id", postgresql_where=text("open")),
        Index("ix_tickets_rules_version_open", "rules_version", postgresql_where=text("open")),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(100))
    live: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Why the ticket exists (`ticket.created`): a care contact (`care`) runs no clocks.
    origin: Mapped[str] = mapped_column(String(20), server_default=text("'customer'"))
    segment: Mapped[str | None] = mapped_column(String(32))
    # What the customer wants done (policies may match on it, e.g. repairs).
    need: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    committed_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When routing decided the placement shown (an older one arriving later is ignored).
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the newest event applied to its clocks happened: an older one arriving later has them
    # rebuilt from `applied_events` in time order. Null for tickets known before that history
    # was kept (they stay in arrival order).
    applied_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy_id: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[int] = mapped_column(Integer)
    # Grows with each publication of the ticket's clocks (`sla.clocks_changed`).
    version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaClock(Base):
    """One cycle of one metric on one ticket and how it stands or ended."""

    __tablename__ = "clocks"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ClockKind), name="kind"),
        CheckConstraint(_one_of("status", ClockOutcome), name="status"),
        # The timer reads the earliest instant something is due, then exactly those cycles.
        Index("ix_clocks_next_at", "next_at", postgresql_where=text("next_at IS NOT NULL")),
        Index("ix_clocks_breached", "breached_at", postgresql_where=text("status = 'breached'")),
        # The supervisors' "about to breach" view.
        Index("ix_clocks_running_due", "due_at", postgresql_where=text("status = 'running'")),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True, server_default=text("1"))
    current: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    ticket_number: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str] = mapped_column(String(64))
    calendar_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    target_seconds: Mapped[float] = mapped_column(Float)
    used_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    escalation_level: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    margin_seconds: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CustomerSegment(Base):
    """The latest segment of each customer sla has heard of (policies match on it)."""

    __tablename__ = "customer_segments"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaEscalation(Base):
    """One step of a policy's escalation chain reached on one cycle (what `sla.escalated`
    announced), kept so supervisors can list escalations; each step once per cycle."""

    __tablename__ = "escalations"
    __table_args__ = (
        CheckConstraint(_one_of("clock", ClockKind), name="clock"),
        CheckConstraint(_one_of("notify", EscalationTarget), name="notify"),
        Index("ix_escalations_escalated_at", "escalated_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    clock: Mapped[str] = mapped_column(String(20), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_number: Mapped[str] = mapped_column(String(64))
    notify: Mapped[str] = mapped_column(String(20))
    # The group a level-3 style step names (null for assignee and supervisor steps).
    group: Mapped[str | None] = mapped_column(String(64))
    share: Mapped[float] = mapped_column(Float)
    policy_id: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who owned the ticket when the step was reached (lists scope by the ticket's current department).
    agent_id: Mapped[str | None] = mapped_column(String(100))
    escalated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ParkedPlacement(Base):
    """Routing's placement (assigned, reassigned, queued) of a ticket sla has not seen yet: it
    carries no ticket facts to start the clocks from, so it waits, as it came, for the first
    event that does, and is applied in that event's transaction."""

    __tablename__ = "parked_placements"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)


class AppliedEvent(Base):
    """An event applied to a ticket's clocks, as it came, with when it happened and when sla
    applied it: the history its clocks are rebuilt from when an older event arrives late
    (`clocks.replay`)."""

    __tablename__ = "applied_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
