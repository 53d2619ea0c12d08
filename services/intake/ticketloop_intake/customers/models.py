"""ORM model of the per-customer data keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base


class CustomerKey(Base):
    """A customer's data key, wrapped by the master key. Deleting the row erases every value
    sealed with it: that is how personal data is erased while the tickets' facts stay."""

    __tablename__ = "customer_keys"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
