"""ORM models of the customer read model: customers, their tickets, answers, objections, the
top-spend line and the segment history. Ids and facts only: names and contacts stay in intake."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Double, Identity, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class Customer(Base):
    """What the loop has told retrospective about one customer, merged order-insensitively: the
    earliest first sighting, the latest interaction, the profile of the newest ticket that gave
    one; plus the segment it now puts them in and when the sweep last looked at them."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_segment", "segment", "customer_id"),
        Index("ix_customers_annual_spend", "annual_spend", postgresql_where=text("annual_spend IS NOT NULL")),
        Index("ix_customers_swept_at", "swept_at"),
        # Anticipation rules look customers up by their anchor.
        Index("ix_customers_customer_since", "customer_since"),
        Index("ix_customers_first_seen_at", "first_seen_at"),
    )

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    customer_since: Mapped[date | None] = mapped_column(Date)
    annual_spend: Mapped[float | None] = mapped_column(Double)
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    # When the ticket that gave the profile above was created: an older ticket told late does
    # not overwrite a newer profile.
    profile_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_interaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_interaction_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    segment: Mapped[str | None] = mapped_column(String(32))
    segment_reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)), server_default=text("'{}'"))
    segment_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    swept_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # From their orders (`orders/`), as of `order_stats_at` (refreshed by each order event and the
    # daily sweep): the last 365 days' purchases in the reporting currency (None: no order known,
    # the reported `annual_spend` stands), purchases in the last 90 days, spend rising.
    order_spend: Mapped[float | None] = mapped_column(Double)
    recent_purchases: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    spend_rising: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    order_stats_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def known_spend(self) -> float | None:
        """The annual spend the segment rules use: from orders when any is known, else as reported."""
        return self.order_spend if self.order_spend is not None else self.annual_spend


class CustomerTicket(Base):
    """One ticket as the customer model sees it: whose it is, why it exists, whether it is open."""

    __tablename__ = "customer_tickets"
    __table_args__ = (
        Index("ix_customer_tickets_customer_id", "customer_id"),
        Index("ix_customer_tickets_origin", "origin", "origin_id"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Known once ticket.created (need, origin) or ticket.resolved (origin) has been seen.
    need: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[str | None] = mapped_column(String(20))
    origin_id: Mapped[str | None] = mapped_column(String(100))
    # The latest resolution and the latest reopening: open = never resolved, or reopened since.
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CustomerAnswer(Base):
    """One survey answer's satisfaction on 0–100 (v1 and v2 of the same answer share the survey id)."""

    __tablename__ = "customer_answers"
    __table_args__ = (Index("ix_customer_answers_customer_id", "customer_id", "answered_at"),)

    survey_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Double)
    kind: Mapped[str] = mapped_column(String(20))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerObjection(Base):
    """A low score the customer gave (`feedback.low_score`): it stands until the recovery ticket
    opened for that survey (origin `recovery`, origin_id = the survey) is resolved."""

    __tablename__ = "customer_objections"
    __table_args__ = (Index("ix_customer_objections_customer_id", "customer_id"),)

    survey_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column()
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SpendThreshold(Base):
    """The top-spend line over every known annual spend (one row), cached because it is a sort
    of the whole read model; recomputed by the sweep and when older than the setting allows."""

    __tablename__ = "spend_threshold"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    threshold: Mapped[float | None] = mapped_column(Double)
    known: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SegmentChange(Base):
    """Every segment a customer was put in, and why: the customer's history, the segment trend
    and the segment goals are read from here."""

    __tablename__ = "segment_history"
    __table_args__ = (
        Index("ix_segment_history_customer_id", "customer_id", "changed_at"),
        Index("ix_segment_history_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    segment: Mapped[str] = mapped_column(String(32))
    previous_segment: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
