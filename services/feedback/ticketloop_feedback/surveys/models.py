"""ORM model of surveys and their answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_feedback.db import Base
from ticketloop_feedback.surveys.domain import CSAT_MAX, CSAT_MIN, NPS_MAX, NPS_MIN
from ticketloop_shared.ids import new_id


class Survey(Base):
    """The satisfaction survey of one resolved ticket, with its answer once given."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(f"csat BETWEEN {CSAT_MIN} AND {CSAT_MAX}", name="csat_range"),
        CheckConstraint(f"nps BETWEEN {NPS_MIN} AND {NPS_MAX}", name="nps_range"),
        # An answer is all or nothing: the scores are set exactly when answered_at is.
        CheckConstraint(
            "(answered_at IS NULL) = (csat IS NULL) AND (answered_at IS NULL) = (nps IS NULL)",
            name="answer_complete",
        ),
        # The delivery list reads only surveys not yet reported delivered, in id order.
        Index("ix_surveys_undelivered", "id", postgresql_where=text("delivered_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    ticket_number: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    # When a delivery system reported the link sent; until then it is in /v1/survey-deliveries.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
