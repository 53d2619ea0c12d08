"""HTTP shapes of customers and segments (ids and facts only: no names, no contacts)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class TicketCounts(BaseModel):
    """The customer's tickets."""

    opened: int = Field(description="Tickets the customer reported.")
    open: int = Field(description="Of those, still open (never resolved, or reopened since).")
    resolved: int = Field(description="Of those, resolved (and not reopened since).")
    proactive: int = Field(description="Tickets the loop opened for them (recovery, care).")


class Answer(BaseModel):
    """One survey answer's satisfaction."""

    survey_id: uuid.UUID
    kind: str
    score: float = Field(description="0–100: CSAT 1–5 as (csat−1)×25, else `overall` 1–10 ×10.")
    answered_at: datetime


class Satisfaction(BaseModel):
    """The customer's satisfaction: the average of their latest answers, and the answers."""

    average: float | None = Field(description="Average of the latest `window` answers, 0–100; null without answers.")
    window: int
    answers: list[Answer] = Field(description="Newest first.")


class Objection(BaseModel):
    """An explicit objection that still stands."""

    kind: str = Field(description="`low_score` (a survey's low score) or `complaint` (a complaint ticket).")
    source_id: str = Field(description="The survey id, or the complaint ticket's id.")
    raised_at: datetime


class SegmentChangeOut(BaseModel):
    """One change of segment."""

    segment: str
    previous_segment: str | None
    reasons: list[str]
    changed_at: datetime


class CareScheduleOut(BaseModel):
    """The customer's care cadence."""

    segment: str
    planned_at: datetime
    next_due_at: datetime | None = Field(description="Null: the segment has no cadence.")


class CareTaskOut(BaseModel):
    """A care contact made due, and whether it was made."""

    task_id: uuid.UUID
    kind: str
    rule: str
    segment: str
    category: str
    preferred_channel: str | None
    due_at: datetime
    created_at: datetime
    completed_at: datetime | None = Field(description="When its care ticket was resolved.")
    ticket_id: uuid.UUID | None = Field(description="The care ticket that completed it.")
    attempt: int = Field(default=1, description="1, or 2, 3… for the retries after no answer.")
    outcome: str | None = Field(
        default=None,
        description="How the contact went: reached, no_answer, declined, follow_up, or unreachable (the last "
        "allowed attempt went unanswered: no more tasks for that slot).",
    )


class Care(BaseModel):
    """The customer's care schedule and tasks (newest due first)."""

    schedule: CareScheduleOut | None
    tasks: list[CareTaskOut]


class CustomerSummary(BaseModel):
    """A customer in a list."""

    customer_id: str
    segment: str | None
    reasons: list[str] = Field(description="Why the customer is in the segment, e.g. `tenure_under_3m`.")
    segment_since: datetime | None
    first_seen_at: datetime
    customer_since: date | None
    last_interaction_at: datetime | None


class CustomerOut(CustomerSummary):
    """One customer: profile facts, segment and why, history, tickets, satisfaction, care."""

    annual_spend: float | None = Field(
        description="The spend the segment rules use: the last 365 days' purchases in the reporting currency when "
        "any order of the customer is known, else `reported_annual_spend`."
    )
    reported_annual_spend: float | None = Field(
        default=None, description="The annual spend the customer's channel reported on their newest ticket."
    )
    recent_purchases: int = Field(default=0, description="Purchases in the last 90 days (`potential`'s growth signal).")
    spend_rising: bool = Field(default=False, description="The last quarter's spend is above the one before.")
    preferred_channel: str | None
    first_interaction_at: datetime | None
    tickets: TicketCounts
    satisfaction: Satisfaction
    objections: list[Objection] = Field(description="Objections still standing, oldest first.")
    history: list[SegmentChangeOut] = Field(description="Newest first.")
    care: Care


class CustomerPage(BaseModel):
    """Customers by id; pass `next_after` as `after` for the next page (null: no more)."""

    items: list[CustomerSummary]
    next_after: str | None


class WeekCounts(BaseModel):
    """Customers per segment when a report week ended."""

    week: str = Field(examples=["2026-W48"])
    ends_at: datetime
    counts: dict[str, int]


class GoalOut(BaseModel):
    """A segment goal as measured now, against its target."""

    definition: str
    value: float | None = Field(description="One decimal; null when there is nothing to measure yet.")
    target: float
    met: bool | None
    cohort: int = Field(description="Customers (answers, for satisfaction) the value is measured over.")
    reached: int | None = None


class SegmentGoals(BaseModel):
    """The segment goals the reviews track (SPEC §5), over `window_from` to now."""

    window_from: datetime
    new_activation_pct: GoalOut
    high_value_satisfaction: GoalOut
    churn_risk_recovery_pct: GoalOut


class SegmentsOut(BaseModel):
    """Customers per segment now, the trend at the end of each recent week, and the goals."""

    as_of: datetime
    counts: dict[str, int]
    trend: list[WeekCounts] = Field(description="Oldest first; each week ends Monday 00:00 in the report time zone.")
    goals: SegmentGoals
