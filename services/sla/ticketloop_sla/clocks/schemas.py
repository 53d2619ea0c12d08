"""HTTP shapes of SLA clocks, as agents and supervisors see them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from ticketloop_shared.events import ClockKind, ClockOutcome


class ClockOut(BaseModel):
    """One clock of a ticket and how much time it has left."""

    clock: ClockKind
    status: ClockOutcome
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    remaining_seconds: float | None = Field(
        description="Seconds until the deadline while the clock runs (negative once overdue); null once it ended."
    )


class TicketSlaOut(BaseModel):
    """The SLA state of one ticket."""

    ticket_id: uuid.UUID
    clocks: list[ClockOut]


class BreachOut(BaseModel):
    """A clock whose deadline passed before it was stopped."""

    ticket_id: uuid.UUID
    ticket_number: str
    channel: str
    clock: ClockKind
    started_at: datetime
    due_at: datetime
    breached_at: datetime
    stopped_at: datetime | None


class BreachPage(BaseModel):
    """One page of breaches, newest first."""

    items: list[BreachOut]
    total: int
    limit: int
    offset: int
