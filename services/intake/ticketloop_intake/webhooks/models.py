"""ORM models of webhook endpoints (subscriptions), their deliveries and each attempt."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id


class WebhookEndpoint(Base):
    """A URL subscribed to some event types, by a channel client (its own tickets' events) or by
    an admin (catalog events). Its signing secrets are stored sealed, never in clear."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # `channel` or `admin`.
    owner: Mapped[str] = mapped_column(String(10))
    channel_client_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    # `active`, `paused` (by its owner) or `disabled` (by intake: 410 Gone, or failing too long).
    status: Mapped[str] = mapped_column(String(10), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Since when every attempt failed (None after a success).
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One event for one endpoint: sent until a 2xx, retried on a schedule, kept for the log.

    Its id is the `webhook-id` (a replay sends the same id, so receivers deduplicate). A channel
    payload is sealed with the customer's key: erasing the customer makes it unreadable."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where="status = 'pending'"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "order_key", "seq", postgresql_where="status = 'pending'"),
        Index("ix_webhook_deliveries_log", "endpoint_id", "created_at"),
        # Retention: deliveries that are over, oldest first.
        Index("ix_webhook_deliveries_finished", "created_at", postgresql_where="status <> 'pending'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    # Deliveries with the same key go to their endpoint one at a time, in order (the ticket id).
    order_key: Mapped[str] = mapped_column(String(200))
    # The customer whose key seals the payload (None: a PII-free admin payload, stored clear).
    customer_id: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # `pending`, `delivered`, `failed` (attempts exhausted) or `erased` (the customer's data was).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One request of a delivery, as it went: status, latency, the start of the answer, or the error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
