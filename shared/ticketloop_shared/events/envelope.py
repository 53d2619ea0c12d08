"""The one envelope every event travels in (CloudEvents-like, JSON on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ticketloop_shared.clock import utcnow
from ticketloop_shared.ids import new_id


class EventContext(BaseModel):
    """Correlation data copied from the cause of an event to the events it causes."""

    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    traceparent: str | None = None


class Envelope(BaseModel):
    """Fields common to every event; subclasses pin `type` with a Literal and type `data`.

    `subject` is the ticket id (or customer id) and is the Kafka key, so one subject's events
    stay in order per producer.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    family: ClassVar[str] = ""

    id: UUID = Field(default_factory=new_id)
    type: str
    source: str
    subject: str
    time: AwareDatetime = Field(default_factory=utcnow)
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    traceparent: str | None = None
    data: Any

    def context(self) -> EventContext:
        """The context for events this one causes: same correlation, this event as cause."""
        return EventContext(
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
            traceparent=self.traceparent,
        )

    def to_json(self) -> bytes:
        """Serialise for the wire."""
        return self.model_dump_json().encode()

    @property
    def occurred_at(self) -> datetime:
        """When the fact happened (alias of `time`)."""
        return self.time
