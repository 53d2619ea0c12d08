"""HTTP shape of assignments and queues."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_shared.events import AssignmentReason
from ticketloop_shared.validation import STORABLE


class DecisionOut(BaseModel):
    """A decision routing made about a ticket and later replaced."""

    at: datetime | None
    decision: str | None
    state: str
    department_id: str | None
    agent_id: str | None
    reason: AssignmentReason | None


class AssignmentOut(BaseModel):
    """Where a ticket stands in routing (`assigned`, `queued` or `closed`), why, and the decisions
    before this one. `score` is its priority now (with its waiting time while queued)."""

    ticket_id: uuid.UUID
    ticket_number: str | None
    category: str | None
    state: str
    department_id: str | None
    agent_id: str | None
    assigned_at: datetime | None
    queued_at: datetime | None
    closed_at: datetime | None
    touched_at: datetime | None
    urgency: str | None
    channel: str | None
    segment: str | None
    required_skills: list[str]
    score: float | None
    decision: str | None
    reason: AssignmentReason | None
    history: list[DecisionOut]


class QueuedTicketOut(BaseModel):
    """A waiting ticket, with its place, score now and how long it has waited."""

    position: int
    ticket_id: uuid.UUID
    ticket_number: str | None
    category: str | None
    urgency: str | None
    channel: str | None
    segment: str | None
    required_skills: list[str]
    score: float
    queued_at: datetime
    waited_seconds: float


class QueueOut(BaseModel):
    """One department's queue, best first (`waiting` counts them all, `tickets` the first `limit`)."""

    department_id: str
    department_name: str
    waiting: int
    tickets: list[QueuedTicketOut]


# A staff member's note about an act, kept in the reason and the audit log.
Note = Annotated[str, Field(max_length=2000), STORABLE]


class AssignIn(BaseModel):
    """A supervisor gives a ticket to a named agent of its department (`override` with a `note`
    assigns an away or full agent anyway)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: Annotated[str, Field(min_length=1, max_length=100), STORABLE]
    note: Note | None = None
    override: bool = False


class TransferIn(BaseModel):
    """A supervisor sends a ticket to another department, saying why."""

    model_config = ConfigDict(extra="forbid")

    department_id: Annotated[str, Field(min_length=1, max_length=100), STORABLE]
    note: Annotated[str, Field(min_length=1, max_length=2000), STORABLE]
