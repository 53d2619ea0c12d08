"""ORM model of feedback's per-customer data keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_feedback.db import Base


class CustomerKey(Base):
    """A customer's data key, wrapped by feedback's master key (never intake's: each service
    holds its own copy of a customer's words under its own keys). Deleting the row erases every
    survey text sealed with it."""

    __tablename__ = "customer_keys"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
