"""HTTP shapes of tickets: what channels send, what they and agents get back."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_intake.tickets.domain import Status
from ticketloop_shared.validation import STORABLE, FiniteFloat, Instant, Text


class Channel(StrEnum):
    """Where a problem was reported."""

    APP = "app"
    WEB = "web"
    MESSAGING = "messaging"
    EMAIL = "email"
    PHONE = "phone"
    COUNTER = "counter"
    PROACTIVE = "proactive"


class Category(StrEnum):
    """The kind of problem; routing maps each to its owning department."""

    PRODUCT_QUALITY = "product_quality"
    LOGISTICS_DELAY = "logistics_delay"
    BILLING = "billing"
    ACCOUNT = "account"
    SERVICE_ATTITUDE = "service_attitude"
    OTHER = "other"


class Need(StrEnum):
    """What the customer wants done."""

    REFUND = "refund"
    REPLACEMENT = "replacement"
    REPAIR = "repair"
    INFORMATION = "information"
    COMPLAINT = "complaint"
    OTHER = "other"


class Urgency(StrEnum):
    """How urgent the customer says it is."""

    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class CustomerIn(BaseModel):
    """The customer as the channel knows them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: Text = Field(min_length=1, max_length=100)
    name: Text = Field(min_length=1, max_length=200)
    contact: Annotated[str, Field(max_length=200), STORABLE] | None = None
    customer_since: date | None = None
    annual_spend: FiniteFloat | None = Field(default=None, ge=0)
    preferred_channel: Channel | None = None


class TicketCreate(BaseModel):
    """A problem reported by a channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel
    customer: CustomerIn
    category: Category
    need: Need = Need.INFORMATION
    urgency: Urgency = Urgency.NORMAL
    subject: Text = Field(min_length=1, max_length=200)
    description: Text = Field(min_length=1, max_length=10_000)
    expected_resolution_at: Instant | None = None


class ReplyCreate(BaseModel):
    """An agent's answer to the customer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: Text = Field(min_length=1, max_length=10_000)


class ResolveRequest(BaseModel):
    """How the problem was solved."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resolution: Text = Field(min_length=1, max_length=5_000)


class CustomerOut(BaseModel):
    """The customer, contact details masked; after an erasure the name reads `[erased]` and the
    contact null."""

    id: str
    name: str
    contact_masked: str | None
    customer_since: date | None
    annual_spend: float | None
    preferred_channel: str | None


class AssigneeOut(BaseModel):
    """Who owns the ticket."""

    agent_id: str
    agent_name: str
    department_id: str
    department_name: str
    assigned_at: datetime


class DeadlinesOut(BaseModel):
    """The commitments that apply to the ticket."""

    acknowledgement_due: datetime
    first_response_due: datetime
    resolution_due: datetime


class TimelineEntryOut(BaseModel):
    """One thing that happened to the ticket (`body` null once the customer's data is erased)."""

    id: uuid.UUID
    at: datetime
    kind: str
    actor: str
    body: str | None


class TicketOut(BaseModel):
    """The normalised ticket, as read back to the channel and shown to agents (`subject` and
    `description` read `[erased]` once the customer's personal data is erased)."""

    id: uuid.UUID
    number: str
    status: Status
    channel: Channel
    category: Category
    need: Need
    urgency: Urgency
    subject: str
    description: str
    customer: CustomerOut
    assignee: AssigneeOut | None
    deadlines: DeadlinesOut
    expected_resolution_at: datetime | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    timeline: list[TimelineEntryOut]


class TicketSummary(BaseModel):
    """A ticket in a list."""

    id: uuid.UUID
    number: str
    status: Status
    channel: Channel
    category: Category
    urgency: Urgency
    subject: str
    customer_id: str
    assignee_id: str | None
    created_at: datetime


class TicketPage(BaseModel):
    """One page of tickets, newest first."""

    items: list[TicketSummary]
    total: int
    limit: int
    offset: int
