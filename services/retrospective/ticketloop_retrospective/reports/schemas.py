"""HTTP shapes of reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DurationFigures(BaseModel):
    """How long something took, in minutes, over the tickets it happened to in the week."""

    count: int
    average_minutes: float | None = Field(description="One decimal; null when count is 0.")
    median_minutes: float | None = Field(description="One decimal; null when count is 0.")


class SlaFigures(BaseModel):
    """SLA clock outcomes (first response and resolution) that fell in the week."""

    met: int
    breached: int
    compliance_pct: float | None = Field(description="met / (met + breached) × 100, one decimal; null when none.")


class CsatFigures(BaseModel):
    """Per-ticket satisfaction (1–5) answered in the week."""

    responses: int
    average: float | None = Field(description="Two decimals; null when no answers.")


class NpsFigures(BaseModel):
    """Net Promoter answers (0–10) given in the week."""

    responses: int
    promoters: int = Field(description="Answers of 9–10.")
    passives: int = Field(description="Answers of 7–8.")
    detractors: int = Field(description="Answers of 0–6.")
    score: float | None = Field(description="% promoters − % detractors, one decimal; null when no answers.")


class CategoryShare(BaseModel):
    """How many of the week's new tickets were of one problem type."""

    category: str
    tickets: int
    share_pct: float = Field(description="Share of the week's opened tickets, one decimal.")


class WeeklyReport(BaseModel):
    """The weekly review: volume, speed, SLA, satisfaction and problem mix of one ISO week."""

    week: str = Field(examples=["2026-W48"])
    starts_at: datetime = Field(description="Monday 00:00 in the report time zone (inclusive).")
    ends_at: datetime = Field(description="The next Monday 00:00 (exclusive).")
    tickets_opened: int
    tickets_resolved: int
    first_response: DurationFigures = Field(description="Tickets first answered in the week, from creation.")
    resolution_time: DurationFigures = Field(description="Tickets resolved in the week, from creation.")
    sla: SlaFigures
    csat: CsatFigures
    nps: NpsFigures
    categories: list[CategoryShare] = Field(description="Most frequent first.")
