"""HTTP shapes of goals: the goals block reports carry, `GET /v1/goals` and the baselines."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ticketloop_retrospective.goals.domain import GoalRow

# The goals block's shape is defined beside the report that carries it (reports must not import
# goals: the goals feature reads reports' figures).
from ticketloop_retrospective.reports.schemas import HeadlineGoal

__all__ = ["HeadlineGoal", "headline_goal"]


def headline_goal(row: GoalRow) -> HeadlineGoal:
    """A goal's row as reports and the API show it."""
    return HeadlineGoal(
        goal=row.goal,
        target=row.target,
        target_value=row.target_value,
        unit=row.unit,
        baseline_period=row.baseline_period,
        baseline_source=None if row.baseline_source is None else row.baseline_source.value,
        baseline=row.baseline,
        current=row.current,
        change_pct=row.change_pct,
        met=row.met,
        status=row.status.value,
        note=row.note,
        parts=dict(row.parts),
    )


class GoalsOut(BaseModel):
    """Every goal in one period (`GET /v1/goals`)."""

    period: str
    starts_at: datetime
    ends_at: datetime
    goals: list[HeadlineGoal]


class BaselineIn(BaseModel):
    """The baseline period to measure a goal against."""

    period: str = Field(
        max_length=32,
        description="`<first>..<last>` ISO weeks or months, both included.",
        examples=["2026-W45..2026-W48", "2026-09..2026-10"],
    )


class BaselineOut(BaseModel):
    """A goal's baseline period in force and who chose it (`version`: the admin's, for If-Match)."""

    goal: str
    period: str | None = Field(description="null: no data yet, so no default baseline.")
    starts_at: datetime | None
    ends_at: datetime | None
    source: Literal["admin", "setting", "default"]
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class BaselineList(BaseModel):
    """Every goal's baseline period."""

    items: list[BaselineOut]
