"""ORM models: surveys (scheduled, sent, answered or withdrawn), and what feedback remembers about
customers and reopened tickets to time them. Templates are `templates.models`."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_feedback.db import Base
from ticketloop_feedback.templates.domain import CSAT_MAX, CSAT_MIN, NPS_MAX, NPS_MIN
from ticketloop_shared.ids import new_id


class Survey(Base):
    """One survey: a resolved ticket's, or a customer's relationship survey; scheduled until its
    due time, then sent (its link on the delivery list), answered once, or withdrawn."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(f"csat BETWEEN {CSAT_MIN} AND {CSAT_MAX}", name="csat_range"),
        CheckConstraint(f"nps BETWEEN {NPS_MIN} AND {NPS_MAX}", name="nps_range"),
        CheckConstraint("kind IN ('ticket', 'onboarding', 'quarterly')", name="kind_known"),
        # A ticket survey is about one resolution of one ticket; a relationship survey about a period.
        CheckConstraint(
            "(kind = 'ticket') = (ticket_id IS NOT NULL AND resolved_at IS NOT NULL AND period IS NULL)",
            name="ticket_or_period",
        ),
        # An answer is all or nothing, and only a sent survey can have one.
        CheckConstraint("(answered_at IS NULL) = (answers IS NULL)", name="answer_complete"),
        CheckConstraint("answered_at IS NULL OR sent_at IS NOT NULL", name="answered_when_sent"),
        CheckConstraint("(sent_at IS NULL) = (template_version IS NULL)", name="version_pinned_when_sent"),
        # A redelivered resolution finds its survey; a new resolution (after a reopen) gets its own.
        UniqueConstraint("ticket_id", "resolved_at", name="uq_surveys_ticket_resolution"),
        # One onboarding survey per customer ever, one quarterly survey per customer and quarter.
        UniqueConstraint("customer_id", "kind", "period", name="uq_surveys_customer_period"),
        # The timer reads the next surveys due to go out, and the next sent ones due a reminder.
        Index("ix_surveys_due", "due_at", postgresql_where=text("sent_at IS NULL AND cancelled_at IS NULL")),
        Index(
            "ix_surveys_unreminded",
            "sent_at",
            postgresql_where=text("reminded_at IS NULL AND answered_at IS NULL AND cancelled_at IS NULL"),
        ),
        # The delivery list: sent surveys whose link (or reminder) was not reported delivered.
        Index(
            "ix_surveys_undelivered",
            "id",
            postgresql_where=text(
                "sent_at IS NOT NULL AND (delivered_at IS NULL OR "
                "(reminded_at IS NOT NULL AND reminder_delivered_at IS NULL))"
            ),
        ),
        Index("ix_surveys_customer_id", "customer_id", "id"),
        # Texts answered before sealing began, until the sealing job seals them (`0x00` first).
        Index("ix_surveys_clear_texts", "id", postgresql_where=text("get_byte(texts, 0) = 0")),
        # Retention: answers whose texts are still kept (`0x02` is the erased mark), oldest first.
        Index(
            "ix_surveys_kept_texts",
            "answered_at",
            postgresql_where=text("texts IS NOT NULL AND texts <> '\\x02'::bytea"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    template_id: Mapped[str] = mapped_column(String(40))
    # Set when sent: the template version the customer is asked.
    template_version: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[str] = mapped_column(String(100))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column()
    ticket_number: Mapped[str | None] = mapped_column(String(64))
    # The surveyed ticket's category and resolution (ticket surveys only).
    category: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The relationship survey's period: `onboarding`, or the quarter (`2026-Q4`).
    period: Mapped[str | None] = mapped_column(String(20))
    # The channel to deliver on: the ticket's preferred channel when known; settled when sent.
    channel: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While scheduled: when it would expire if sent on time; set for good when sent.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The answer, by question id; each free text is null here, its place kept: the texts are
    # sealed in `texts` (they never leave this service, and erasing the customer erases them).
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # What the customer wrote (comments, suggestions, the NPS reason), by question id, as JSON
    # sealed with the customer's key (`ticketloop_shared.sealing`): `0x01…` sealed, `0x00…`
    # written before sealing began (until the sealing job reaches it), `0x02` erased; null when
    # the answer has no text.
    texts: Mapped[bytes | None] = mapped_column(LargeBinary)
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    # When a delivery system reported the link (then the reminder) sent; until then it is listed
    # in /v1/survey-deliveries.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SurveyLink(Base):
    """One link handed out for a sent survey, kept only as the digest of its token (the token
    itself is never stored, so the database opens no survey). Each hand-out mints its own token,
    and every one stays valid while the survey is open: a customer may click the first mail after
    the reminder came."""

    __tablename__ = "survey_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Customer(Base):
    """A customer's latest segment as retrospective announced it, with what times their surveys."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(50))
    # The announcement this row holds; an older one arriving late is ignored.
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    customer_since: Mapped[date | None] = mapped_column(Date)
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    preferred_channel: Mapped[str | None] = mapped_column(String(100))


class ReopenedTicket(Base):
    """The latest reopen seen of a ticket, so a resolution that arrives after it (out of order)
    but happened before it is not surveyed."""

    __tablename__ = "reopened_tickets"

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reopened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketDepartment(Base):
    """The department holding a ticket, as routing last placed it (assigned, reassigned, queued
    or transferred): who on the staff may read the ticket's surveys. The latest placement wins,
    whatever order the events arrive in."""

    __tablename__ = "ticket_departments"

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
