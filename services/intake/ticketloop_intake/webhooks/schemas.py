"""Webhook subscriptions, deliveries and attempts in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_shared.validation import Instant

Url = Annotated[str, Field(min_length=8, max_length=2000, examples=["https://crm.example.com/hooks/ticketloop"])]
EventTypes = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1, max_length=50)]


class EndpointCreate(BaseModel):
    """A new subscription: where to send, and which event types."""

    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes
    description: Annotated[str | None, Field(max_length=500)] = None


class EndpointUpdate(BaseModel):
    """A change of a subscription (what is absent stays)."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Annotated[str | None, Field(max_length=500)] = None


class EndpointOut(BaseModel):
    """A subscription as stored (never its secret); `version` is also its `ETag`."""

    id: uuid.UUID
    owner: str
    channel_client_id: uuid.UUID | None
    url: str
    description: str | None
    event_types: list[str]
    status: str
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_valid_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    """A new subscription, with its signing secret: shown this once, keep it."""

    secret: str


class SecretRotated(BaseModel):
    """The new signing secret (shown this once); the old one still signs until `previous_valid_until`."""

    secret: str
    previous_valid_until: datetime | None


class DeliveryOut(BaseModel):
    """One event for one endpoint; `id` is the `webhook-id` header and the body's `id`."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    delivered_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    """One request of a delivery."""

    id: int
    at: datetime
    status_code: int | None
    latency_ms: int
    response: str | None
    error: str | None


class ReplayRange(BaseModel):
    """Send again what was created in [since, until) (by default failed and delivered ones)."""

    model_config = ConfigDict(extra="forbid")

    since: Instant
    until: Instant
    statuses: list[Annotated[str, Field(pattern="^(failed|delivered)$")]] = Field(
        default_factory=lambda: ["failed", "delivered"], min_length=1
    )


class Replayed(BaseModel):
    """How many deliveries are queued again."""

    replayed: int
