"""ORM model of the ticket facts read model."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base
from ticketloop_shared.events import TicketOrigin

CUSTOMER = TicketOrigin.CUSTOMER.value


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
        # (resolved_at, created_at): the backlog counts tickets resolved after an instant and
        # created before it from the index alone.
        Index("ix_ticket_facts_resolved_created", "resolved_at", "created_at"),
        # The tickets never resolved, and the few reopened: the rest of the backlog.
        Index("ix_ticket_facts_unresolved_created", "created_at", postgresql_where=text("resolved_at IS NULL")),
        Index("ix_ticket_facts_reopened_at", "reopened_at", postgresql_where=text("reopened_at IS NOT NULL")),
        Index("ix_ticket_facts_first_response_sla_at", "first_response_sla_at"),
        Index("ix_ticket_facts_resolution_sla_at", "resolution_sla_at"),
        Index("ix_ticket_facts_answered_at", "answered_at"),
        # A segment change re-labels its customer's tickets opened since.
        Index("ix_ticket_facts_customer_created", "customer_id", "created_at"),
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
    # What the review needs beyond the weekly figures (migration 0004).
    need: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[str | None] = mapped_column(String(20))
    # When the customer expected it resolved, as told at intake (migration 0010): the review
    # measures resolutions against it.
    expected_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customer_annual_spend: Mapped[float | None] = mapped_column(Float)
    # The first owner's assignment starts the handling time; `assigned_at` is the latest owner's.
    first_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What happened how often, as the set of its ids: an event counts once however often it is
    # delivered, in any order, even re-emitted under a new event id (the count is the cardinality).
    reply_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default=text("'{}'"))
    reopen_times: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)), server_default=text("'{}'"))
    repeat_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default=text("'{}'"))
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    self_service: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The customer's segment when the ticket was opened (the latest `customer.segment_changed`
    # at or before `created_at`); set by whichever of the two arrives last.
    segment: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ClockFact(Base):
    """Where one cycle of one SLA metric of a ticket ended: met or breached, and when. Every
    metric and every cycle, so the review reports compliance per metric (the ticket facts keep
    first response and resolution of the first cycle for the weekly figures)."""

    __tablename__ = "clock_facts"
    __table_args__ = (
        CheckConstraint("outcome IN ('met', 'breached')", name="outcome"),
        Index("ix_clock_facts_at", "at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    clock: Mapped[str] = mapped_column(String(30), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The ticket's dimensions, copied from its facts (and kept in step when they change), so
    # compliance per department or segment reads the cycles of a period without a join.
    channel: Mapped[str | None] = mapped_column(String(20))
    category: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[str | None] = mapped_column(String(100))
    segment: Mapped[str | None] = mapped_column(String(20))
    # Whose problem the ticket is (`customer`, or one the loop opened: `care`, `recovery`), so
    # compliance counts customers' problems without a join (migration 0010).
    origin: Mapped[str | None] = mapped_column(String(20))


class AnswerFact(Base):
    """One survey answer's scores, whatever the survey (per-ticket or relationship): CSAT,
    NPS and the dimension scores the review averages."""

    __tablename__ = "answer_facts"
    __table_args__ = (
        Index("ix_answer_facts_answered_at", "answered_at"),
        # A segment change re-labels a customer's answers from its instant.
        Index("ix_answer_facts_customer_answered", "customer_id", "answered_at"),
    )

    survey_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    ticket_id: Mapped[uuid.UUID | None]
    customer_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    quality: Mapped[int | None] = mapped_column(SmallInteger)
    response_speed: Mapped[int | None] = mapped_column(SmallInteger)
    resolution: Mapped[int | None] = mapped_column(SmallInteger)
    care: Mapped[int | None] = mapped_column(SmallInteger)
    overall: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The customer's segment when they answered (as for tickets, whichever arrives last sets it).
    segment: Mapped[str | None] = mapped_column(String(20))


class SegmentFact(Base):
    """Every `customer.segment_changed`: which segment a customer was in from when, so a ticket or
    an answer is counted under the segment its customer had at that moment."""

    __tablename__ = "segment_facts"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    segment: Mapped[str] = mapped_column(String(20))
    # The customer's next change (NULL: still in force), so "who was in which segment at T" is
    # one filter over the changes, not a sort per customer.
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def customer_initiated(table: Table | type[TicketFact] | type[ClockFact]) -> ColumnElement[bool]:
    """The ticket (or the SLA cycle's ticket) is a customer's problem: they reported it (origin
    `customer`); the loop did not open it itself (`care`, `recovery`, any proactive origin to
    come). A row that has not learnt its origin yet (its `ticket.created` not seen so far, e.g. an
    SLA outcome that came first) counts as the customer's, as `ticket.created`'s own default
    says, until it learns otherwise. The review's figures count these tickets only."""
    origin = table.c.origin if isinstance(table, Table) else table.origin
    return func.coalesce(origin, CUSTOMER) == CUSTOMER
