"""ORM model of the per-customer data keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base


class CustomerErasure(Base):
    """When a customer's key was destroyed: every intake process re-reads the recent ones each
    second and drops those keys from its cache, so an erasure holds everywhere at once."""

    __tablename__ = "customer_erasures"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CustomerKey(Base):
    """A customer's data key, wrapped by the master key. Deleting the row erases every value
    sealed with it: that is how personal data is erased while the tickets' facts stay."""

    __tablename__ = "customer_keys"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
