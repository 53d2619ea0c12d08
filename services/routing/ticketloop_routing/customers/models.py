"""ORM model of dedicated account managers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_routing.db import Base


class AccountManager(Base):
    """The agent a (high-value) customer's tickets go to first, when available."""

    __tablename__ = "account_managers"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(100), index=True)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    set_by: Mapped[str] = mapped_column(String(100))
    # Bumped by every change: its `ETag`, named by `If-Match` to change or clear it.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class CustomerSegment(Base):
    """A customer's segment as retrospective last announced it (`customer.segment_changed`);
    routing ranks the customer's next tickets by it instead of guessing from one ticket."""

    __tablename__ = "customer_segments"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
