"""ORM model of an order fact."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_retrospective.db import Base


class OrderFact(Base):
    """One order as the newest `order.recorded` said (the highest revision wins, so a redelivered
    or late event changes nothing). Keyed by the reporting client and its own order id."""

    __tablename__ = "order_facts"
    __table_args__ = (
        Index("ix_order_facts_customer_ordered", "customer_id", "ordered_at"),
        Index("ix_order_facts_ordered_at", "ordered_at"),
    )

    channel_client: Mapped[str] = mapped_column(String(100), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    ordered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer)
