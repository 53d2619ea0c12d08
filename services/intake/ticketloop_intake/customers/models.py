"""ORM model of the per-customer data keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base

# Why a key was destroyed: the customer's erasure (nobody may contact them on our own any more),
# or retention (nothing of theirs was kept any longer; a new ticket of theirs gets a new key).
ERASURE, RETIREMENT = "erasure", "retention"


class CustomerErasure(Base):
    """When a customer's key was destroyed: every intake process re-reads the recent ones each
    second and drops those keys from its cache, so an erasure holds everywhere at once."""

    __tablename__ = "customer_erasures"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(10), server_default=ERASURE)


class CustomerKey(Base):
    """A customer's data key, wrapped by the master key. Deleting the row erases every value
    sealed with it: that is how personal data is erased while the tickets' facts stay."""

    __tablename__ = "customer_keys"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
