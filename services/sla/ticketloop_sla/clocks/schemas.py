"""HTTP shapes of SLA clocks, as agents and supervisors see them. Seconds are business seconds
of the cycle's calendar, except `paused_seconds` (wall time)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from ticketloop_shared.events import ClockKind, ClockOutcome, EscalationTarget


class ClockOut(BaseModel):
    """One cycle of one metric."""

    clock: ClockKind
    cycle: int
    current: bool = Field(description="The metric's latest cycle (recurring metrics keep their past cycles).")
    status: ClockOutcome
    calendar: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None = Field(description="Null while paused.")
    elapsed_seconds: float = Field(description="Business time used so far (up to the stop once ended).")
    remaining_seconds: float | None = Field(
        description="Business time left while running or paused; null once ended or breached."
    )
    paused_seconds: float
    stopped_at: datetime | None
    breached_at: datetime | None
    margin_seconds: float | None = Field(
        description="Met: business time to spare; breached and stopped: how late (negative)."
    )
    warned: bool
    escalation_level: int


class PolicyRef(BaseModel):
    """The policy a ticket's clocks follow."""

    id: str
    name: str
    version: int


class TicketSlaOut(BaseModel):
    """The SLA state of one ticket."""

    ticket_id: uuid.UUID
    ticket_number: str
    status: str
    department_id: str | None
    agent_id: str | None
    policy: PolicyRef
    clocks: list[ClockOut]


class BreachOut(BaseModel):
    """A cycle whose due instant passed before it was stopped."""

    ticket_id: uuid.UUID
    ticket_number: str
    channel: str
    department_id: str | None
    agent_id: str | None
    policy_id: str
    clock: ClockKind
    cycle: int
    started_at: datetime
    due_at: datetime
    breached_at: datetime
    stopped_at: datetime | None
    margin_seconds: float | None


class BreachPage(BaseModel):
    """One page of breaches, newest first."""

    items: list[BreachOut]
    total: int
    limit: int
    offset: int


class DueOut(BaseModel):
    """A running cycle about to breach."""

    ticket_id: uuid.UUID
    ticket_number: str
    department_id: str | None
    agent_id: str | None
    clock: ClockKind
    cycle: int
    due_at: datetime
    remaining_seconds: float = Field(description="Wall-clock seconds until the due instant.")


class DuePage(BaseModel):
    """Running cycles due within the asked window, soonest first."""

    items: list[DueOut]
    total: int
    limit: int
    offset: int


class EscalationOut(BaseModel):
    """A step of the policy's escalation chain reached on one cycle (what `sla.escalated` announced)."""

    ticket_id: uuid.UUID
    ticket_number: str
    department_id: str | None = Field(description="The ticket's department now.")
    agent_id: str | None = Field(description="Who owned the ticket when the step was reached.")
    clock: ClockKind
    cycle: int
    level: int
    notify: EscalationTarget
    group: str | None = Field(description="The group a group step notifies.")
    share: float = Field(description="The share of the target at which the step is reached.")
    policy_id: str
    due_at: datetime | None
    escalated_at: datetime


class EscalationPage(BaseModel):
    """One page of escalations, newest first."""

    items: list[EscalationOut]
    total: int
    limit: int
    offset: int
