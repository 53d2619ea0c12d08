"""ORM model of canned replies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class ReplyTemplate(Base):
    """A reply admins write once and staff fill in for a ticket (placeholders in braces)."""

    __tablename__ = "reply_templates"
    __table_args__ = (Index("uq_reply_templates_name", text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    # A ticket `Category` the template is offered for, or None for every category.
    category: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on every change; the ETag that `If-Match` must name.
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(100))
