"""ORM models of tickets and their timeline."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id

TICKET_NUMBER_SEQ = Sequence("ticket_number_seq", metadata=Base.metadata)


class Ticket(Base):
    """One customer problem, as accepted and as it progresses."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_customer", "customer_id"),
        # A department's staff list their own tickets, newest first.
        Index("ix_tickets_department_created", "department_id", "created_at"),
        # The repeat-contact lookup: this customer's ticket for the same problem.
        Index("ix_tickets_repeat", "customer_id", "category", "fingerprint"),
        # The auto-close sweep: resolved tickets, oldest resolution first.
        Index("ix_tickets_resolved_open", "resolved_at", postgresql_where=text("status = 'resolved'")),
        # A low score or a care task opens its proactive ticket once, whatever is redelivered.
        Index("uq_tickets_origin", "origin", "origin_id", unique=True, postgresql_where=text("origin_id IS NOT NULL")),
        # Retention: closed tickets whose personal texts are still kept (`0x02` is the erased mark).
        Index(
            "ix_tickets_closed_texts",
            "closed_at",
            postgresql_where=text("status = 'closed' AND subject <> '\\x02'::bytea"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(20))
    channel_client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_clients.id"))
    category: Mapped[str] = mapped_column(String(40))
    need: Mapped[str] = mapped_column(String(40))
    urgency: Mapped[str] = mapped_column(String(20))
    # Personal texts are stored sealed with the customer's key (ticketloop_shared/sealing.py).
    subject: Mapped[bytes] = mapped_column(LargeBinary)
    description: Mapped[bytes] = mapped_column(LargeBinary)
    # The customer's pseudonym (`customers/domain.py`); the channel's own reference only sealed
    # (None on a row written before pseudonyms, until the re-keying job reaches it).
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_reference: Mapped[bytes | None] = mapped_column(LargeBinary)
    customer_name: Mapped[bytes] = mapped_column(LargeBinary)
    customer_contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    customer_since: Mapped[date | None] = mapped_column(Date)
    customer_annual_spend: Mapped[float | None] = mapped_column(Float)
    customer_preferred_channel: Mapped[str | None] = mapped_column(String(20))
    # Skills an agent needs to take the ticket (routing's skills strategy).
    required_skills: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    # A hash of the normalised subject: with customer and category it recognises a repeat contact.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The normalised subject's trigrams, each keyed with the customer's key (`domain.subject_grams`):
    # how a report in similar words is recognised as the same problem without the subject in clear.
    subject_grams: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    # Its words holding a digit, keyed the same way (`domain.subject_numbers`): similar wording
    # is the same problem only with the same numbers.
    subject_numbers: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    # The customer's expected resolution time, the one the owner committed to, and the actual one.
    expected_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_update_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_customer_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The customer waits in a live session (chat, messaging conversation, call): sla runs the
    # access clock on it. Passed through in `ticket.created`; intake applies no rule of its own.
    live_session: Mapped[bool] = mapped_column(default=False)
    # Why the ticket exists (`customer`, or a proactive `recovery`/`care` ticket), what opened a
    # proactive one (the survey, the care task) and the ticket a recovery is about.
    origin: Mapped[str] = mapped_column(String(20), default="customer")
    origin_id: Mapped[str | None] = mapped_column(String(100))
    linked_ticket_id: Mapped[uuid.UUID | None] = mapped_column()
    # A care ticket is a task: when its contact is due (it runs no sla clocks) and how the agent
    # completed it (`CareOutcome`, given with the resolution).
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    care_outcome: Mapped[str | None] = mapped_column(String(20))
    # Every clock of the ticket as sla last published it (`sla.clocks_changed`, the highest
    # `sla_version` seen; all null until sla has published): sla owns every deadline.
    sla_clocks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    sla_version: Mapped[int | None] = mapped_column(Integer)
    sla_policy_id: Mapped[str | None] = mapped_column(String(100))
    # When the acknowledgement reached the customer (`ticket.acknowledged`) and how: `webhook`
    # (the channel's endpoint answered 2xx; set, without `acknowledged_at`, as soon as that
    # delivery is queued, so a read-back does not count) or `read_back` (a channel without that
    # subscription read the ticket back); and when the owner said a person is connected.
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_via: Mapped[str | None] = mapped_column(String(20))
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What a work list orders by, kept in step with what routing and sla report: routing's
    # priority score (`ticket.assigned`/`reassigned`/`queued`; higher goes first) and the due
    # instant and metric of the clock falling due first among those still owed (`sla_clocks`).
    priority_score: Mapped[float | None] = mapped_column(Float)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_due_clock: Mapped[str | None] = mapped_column(String(40))
    assignee_id: Mapped[str | None] = mapped_column(String(100))
    assignee_name: Mapped[str | None] = mapped_column(String(200))
    department_id: Mapped[str | None] = mapped_column(String(100))
    department_name: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    self_service: Mapped[bool] = mapped_column(default=False)
    resolved_by_article: Mapped[uuid.UUID | None] = mapped_column()
    followed_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Bumped by every change staff make to what they edit (urgency, category): the `ETag` that a
    # `PATCH` must name in `If-Match`, so two supervisors cannot silently undo each other.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="ticket", lazy="raise", order_by="TimelineEntry.at"
    )


class TimelineEntry(Base):
    """Something that happened to a ticket: created, assigned, a customer message, a reply, an
    internal note (never shown to the channel), a plan, an update, resolved, closed…"""

    __tablename__ = "timeline"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    # Sealed with the customer's key, or marked clear for a system note (e.g. who was assigned).
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # An assignment's or queueing's reason as routing gave it (rule, actor, note, score), clear:
    # routing publishes it on its topic already.
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    ticket: Mapped[Ticket] = relationship(back_populates="timeline", lazy="raise")


# Work lists: a department's (or its queue's) by priority and by what falls due first, matching
# `repository.search`'s orderings so a page is read straight off the index; a person holds few
# tickets, so one index finds theirs and sorting them is cheap whatever the order.
_BY_PRIORITY = (Ticket.priority_score.desc().nulls_last(), Ticket.next_due_at, Ticket.created_at, Ticket.id)
_BY_DUE = (Ticket.next_due_at, Ticket.priority_score.desc().nulls_last(), Ticket.created_at, Ticket.id)
Index("ix_tickets_department_priority", Ticket.department_id, *_BY_PRIORITY)
Index("ix_tickets_department_due", Ticket.department_id, *_BY_DUE)
Index("ix_tickets_assignee_priority", Ticket.assignee_id, *_BY_PRIORITY)
Index(
    "ix_tickets_queue_priority",
    Ticket.department_id,
    *_BY_PRIORITY,
    postgresql_where=text("assignee_id IS NULL"),
)


class TicketWord(Base):
    """One term of a ticket's subject or description, as the keyed token index stores it: the
    HMAC of the term, never the term (`search_index.py` says why this leaks no plaintext). No
    foreign key: the rows are written in the ticket's own one-statement insert, and a check per
    row would cost the hot path for nothing (tickets are never deleted)."""

    __tablename__ = "ticket_words"
    __table_args__ = (
        # The erasure deletes a customer's tickets' rows.
        Index("ix_ticket_words_ticket", "ticket_id"),
    )

    token: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
