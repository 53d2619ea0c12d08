"""ORM model of a reported order."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Integer, LargeBinary, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base


class Order(Base):
    """An order as its commerce system (a channel client) last reported it. The customer by
    pseudonym; the commerce system's own reference only sealed under the customer's key (like a
    ticket's), so that a care contact after an order knows whom to contact, and an erasure makes
    it unreadable."""

    __tablename__ = "orders"
    __table_args__ = (
        # The commerce system's id is unique per client: the natural idempotency key.
        Index("uq_orders_client_order", "channel_client_id", "order_id", unique=True),
        # The customer's latest orders (the order-status answer).
        Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel_client_id: Mapped[uuid.UUID] = mapped_column()
    order_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_reference: Mapped[bytes | None] = mapped_column(LargeBinary)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
