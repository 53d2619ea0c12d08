"""HTTP shapes of counter queues: registering a counter, taking a number, the live queue,
serving a number as a ticket."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from ticketloop_intake.counters.domain import COUNTER_SLUG, EntryStatus
from ticketloop_shared.validation import STORABLE, Text
from ticketloop_shared.vocabulary import Category, Need, Urgency

CounterName = Annotated[str, Field(min_length=1, max_length=64, pattern=COUNTER_SLUG)]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(value: str) -> str:
    """Refuse a time zone this system does not know (an IANA name such as `Asia/Shanghai`)."""
    if value not in _zones():
        raise PydanticCustomError("unknown_time_zone", "unknown time zone (use an IANA name such as Asia/Shanghai)")
    return value


class CounterCreate(BaseModel):
    """A counter to register: its slug, its numbers' prefix and its local time zone."""

    model_config = ConfigDict(extra="forbid")

    name: CounterName
    prefix: str = Field(default="A", pattern=r"^[A-Z]{1,3}$")
    time_zone: Annotated[str, Field(max_length=64), AfterValidator(known_zone)] = "UTC"


class CounterOut(BaseModel):
    """A registered counter."""

    name: str
    prefix: str
    time_zone: str
    created_at: datetime
    created_by: str


class QueueTake(BaseModel):
    """A customer taking a number; the name is optional personal data (sealed, never logged)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_id: Text = Field(min_length=1, max_length=100)
    customer_name: Annotated[str, Field(min_length=1, max_length=200), STORABLE] | None = None


class ServeRequest(BaseModel):
    """The customer's problem, heard at the counter; it becomes a ticket on channel `counter`.
    `customer_name` is needed here unless it was given with the number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Category
    need: Need = Need.INFORMATION
    urgency: Urgency = Urgency.NORMAL
    subject: Text = Field(min_length=1, max_length=200)
    description: Text = Field(min_length=1, max_length=10_000)
    customer_name: Annotated[str, Field(min_length=1, max_length=200), STORABLE] | None = None
    contact: Annotated[str, Field(max_length=200), STORABLE] | None = None


class TicketRefOut(BaseModel):
    """The ticket a served number became."""

    id: uuid.UUID
    number: str


class QueueEntryOut(BaseModel):
    """A queue number as it stands: place and estimate while waiting; the ticket once served."""

    id: uuid.UUID
    counter: str
    number: str
    status: EntryStatus
    customer_id: str
    joined_at: datetime
    position: int | None = Field(description="1 is next; null once the number left the queue")
    waited_seconds: float = Field(description="Until now while waiting, else until it left the queue")
    estimated_wait_seconds: float | None = Field(description="From the counter's recent service rate; null once left")
    wait_exceeded: bool = Field(description="The wait went past the limit (`…_COUNTER_WAIT_LIMIT_MINUTES`)")
    wait_exceeded_at: datetime | None = Field(description="When `care.wait_exceeded` was raised for it")
    served_at: datetime | None
    cancelled_at: datetime | None
    ticket: TicketRefOut | None


class QueueOut(BaseModel):
    """A counter's live queue, first come first, with the pace its estimates use."""

    counter: str
    at: datetime
    waiting: int
    seconds_per_position: float
    estimate_basis: Literal["recent_serves", "default"]
    entries: list[QueueEntryOut]
