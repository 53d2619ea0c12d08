"""ORM model of rectification items."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class RectificationItem(Base):
    """A cross-department fix the review asks for: from a hot category's streak (one item per
    streak: `(category, streak_started)` is unique) or opened by hand."""

    __tablename__ = "rectification_items"
    __table_args__ = (
        UniqueConstraint("category", "streak_started", name="uq_rectification_items_streak"),
        CheckConstraint("status IN ('open', 'in_progress', 'closed')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    pain_class: Mapped[str] = mapped_column(String(20))
    # The first hot week of the streak (`YYYY-Www`); NULL for an item opened by hand.
    streak_started: Mapped[str | None] = mapped_column(String(10))
    last_hot_week: Mapped[str | None] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    threshold: Mapped[str] = mapped_column(String(60))
    owner_department: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
