"""HTTP shapes of reports and the metric dictionary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class DurationFigures(BaseModel):
    """How long something took, in minutes, over the tickets it happened to in the period."""

    count: int
    average_minutes: float | None = Field(description="One decimal; null when count is 0.")
    median_minutes: float | None = Field(description="p50, one decimal; null when count is 0.")
    p90_minutes: float | None = Field(description="One decimal; null when count is 0.")


class Compliance(BaseModel):
    """SLA cycles met and breached, for one group."""

    met: int
    breached: int
    compliance_pct: float | None = Field(description="met / (met + breached) × 100, one decimal; null when none.")


class GroupCompliance(Compliance):
    """Compliance of one metric, department or segment."""

    key: str


class SlaFigures(Compliance):
    """SLA cycles of every metric that ended in the period: overall, then per metric, per
    department and per segment of the ticket."""

    by_metric: list[GroupCompliance]
    by_department: list[GroupCompliance]
    by_segment: list[GroupCompliance]


class CsatFigures(BaseModel):
    """Per-ticket satisfaction (1–5) answered in the period."""

    responses: int
    average: float | None = Field(description="Two decimals; null when no answers.")
    satisfied_pct: float | None = Field(description="Share of answers of 4–5, one decimal.")


class DimensionFigures(BaseModel):
    """Relationship-survey dimension averages (1–10, two decimals) answered in the period."""

    responses: int
    quality: float | None
    response_speed: float | None
    resolution: float | None
    care: float | None
    overall: float | None


class NpsFigures(BaseModel):
    """Net Promoter answers (0–10) given in the period."""

    responses: int
    promoters: int = Field(description="Answers of 9–10.")
    passives: int = Field(description="Answers of 7–8.")
    detractors: int = Field(description="Answers of 0–6.")
    score: float | None = Field(description="% promoters − % detractors, one decimal; null when no answers.")


class CategoryShare(BaseModel):
    """How many of the period's new tickets were of one problem type."""

    category: str
    pain_class: str
    tickets: int
    share_pct: float = Field(description="Share of the period's opened tickets, one decimal.")


class PainClassShare(BaseModel):
    """How many of the period's new tickets fell in one pain-point class."""

    pain_class: str
    tickets: int
    share_pct: float


class Backlog(BaseModel):
    """The stock of open tickets and how it moved."""

    at_start: int
    at_end: int
    flow: int = Field(description="at_end − at_start.")


class SegmentCount(BaseModel):
    """Customers in one segment at the period's end, and the change since the previous period's."""

    segment: str
    customers: int
    previous: int
    change: int


class HeadlineGoal(BaseModel):
    """One of SPEC's goals in one period, measured against its baseline period (not the period
    before): baseline, current, target and whether it is met."""

    goal: str
    target: str = Field(examples=["+40 % on the baseline", "≥ 90"])
    target_value: float | None = Field(description="The number to reach; null when the baseline is not known.")
    unit: str
    baseline_period: str | None = Field(
        description="The baseline period, `<first>..<last>` report periods (both included).",
        examples=["2026-W45..2026-W48"],
    )
    baseline_source: Literal["admin", "setting", "default"] | None
    baseline: float | None = Field(description="The figure over the baseline period.")
    current: float | None = Field(description="The figure over this period.")
    change_pct: float | None = Field(description="(current − baseline) / |baseline| × 100, one decimal.")
    met: bool | None = Field(description="Whether the current value reaches the target; null when unmeasured.")
    status: Literal["met", "not_met", "unmeasured"]
    note: str | None = Field(default=None, description="Why the goal is unmeasured, or how it is measured.")
    parts: dict[str, float | None] = Field(
        default_factory=dict, description="Per part (core touchpoint satisfaction: per channel)."
    )


class ProblemPriority(BaseModel):
    """One problem type on the impact × difficulty matrix; quick wins first."""

    rank: int
    category: str
    pain_class: str
    quadrant: Literal["quick_win", "major_project", "fill_in", "thankless"]
    impact: float
    difficulty: float
    tickets: int
    customers: int
    revenue: float
    handling_minutes: float | None
    reopen_rate_pct: float | None
    departments: int


class ExpectedResolution(BaseModel):
    """Resolutions in the period against the time the customer said they expected it at intake."""

    tickets: int = Field(description="Customer-initiated tickets resolved in the period with an expected time.")
    resolved_by_expected: int = Field(description="Of those, resolved at or before the expected time.")
    resolved_by_expected_pct: float | None = Field(description="One decimal; null when no tickets.")
    median_gap_minutes: float | None = Field(
        description="p50 of resolved − expected, one decimal: negative when earlier than expected."
    )
    average_gap_minutes: float | None = Field(description="Mean of resolved − expected, one decimal.")


class CareFigures(BaseModel):
    """Care contacts the loop opened (origin `care`), kept out of every problem figure."""

    made: int = Field(description="Care contacts opened in the period.")
    completed: int = Field(description="Care contacts resolved in the period.")
    outcomes: dict[str, int] | None = Field(
        default=None,
        description="Care contacts completed in the period per outcome (reached, no_answer, declined, "
        "follow_up, and unreachable for the last unanswered attempt); outcomes no contact had are left out.",
    )


class RecoveryFigures(BaseModel):
    """Recovery tickets the loop opened after a low score (origin `recovery`)."""

    opened: int = Field(description="Recovery tickets opened in the period.")
    resolved: int = Field(description="Recovery tickets resolved in the period.")
    recovery_rate_pct: float | None = Field(
        description="Of the recovery tickets opened in the period, the share resolved by its end and not reopened."
    )
    next_answers: int = Field(
        description="Recovery tickets resolved in the period whose customer answered a survey after it."
    )
    no_longer_low: int = Field(description="Of those, the first answer after the resolution was not a low score.")
    no_longer_low_pct: float | None = Field(description="no_longer_low / next_answers × 100, one decimal.")


class ProactiveFigures(BaseModel):
    """The tickets the loop opened itself, reported apart from the customers' problems."""

    care: CareFigures
    recovery: RecoveryFigures


class Filters(BaseModel):
    """The filters a report was cut with (null: any)."""

    channel: str | None = None
    category: str | None = None
    department: str | None = None
    segment: str | None = None


class Report(BaseModel):
    """The review of one week or month: volume, speed, resolution quality, SLA, satisfaction,
    problem mix and priorities, segments and the headline goals. The ticket figures count the
    problems customers reported; the tickets the loop opened itself (care contacts, recovery)
    are in `proactive`. Every figure is defined in `GET /v1/metrics`; `drilldown` links each
    ticket-counting figure to its tickets."""

    period: str = Field(examples=["2026-W48", "2026-11"])
    kind: Literal["week", "month"]
    starts_at: datetime = Field(description="Start in the report time zone (inclusive).")
    ends_at: datetime = Field(description="End (exclusive).")
    filters: Filters
    tickets_opened: int
    tickets_resolved: int
    backlog: Backlog
    resolution_rate_pct: float | None
    first_contact_resolution_pct: float | None
    reopen_rate_pct: float | None
    repeat_complaint_rate_pct: float | None
    first_response: DurationFigures = Field(description="Tickets first answered in the period, from creation.")
    resolution_time: DurationFigures = Field(description="Tickets resolved in the period, from creation.")
    handling_time: DurationFigures = Field(description="Tickets resolved in the period, from first assignment.")
    expected_resolution: ExpectedResolution
    sla: SlaFigures
    csat: CsatFigures
    dimensions: DimensionFigures
    nps: NpsFigures
    categories: list[CategoryShare] = Field(description="Most frequent first.")
    pain_classes: list[PainClassShare]
    priorities: list[ProblemPriority]
    segments: list[SegmentCount]
    proactive: ProactiveFigures
    headline: list[HeadlineGoal] = Field(
        description="SPEC's goals, each against its baseline period (`GET /v1/goals` for the same block alone)."
    )
    drilldown: dict[str, str] = Field(description="Metric name → the URL listing the tickets it counts.")


class MetricOut(BaseModel):
    """One entry of the metric dictionary."""

    name: str
    title: str
    definition: str
    formula: str
    unit: str
    counts: str = Field(description="Which tickets (or answers, cycles, customers) the figure counts.")
    source_events: list[str]
    drilldown: bool
    figures: list[str] = Field(description="Where the figure appears in a report (JSON paths; `[]`: every item).")


class MetricDictionary(BaseModel):
    """Every figure of the reports."""

    items: list[MetricOut]


class TicketRow(BaseModel):
    """One ticket a figure counts."""

    ticket_id: str
    number: str | None
    channel: str | None
    category: str | None
    urgency: str | None
    segment: str | None
    department_id: str | None
    agent_id: str | None
    customer_id: str | None
    created_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    reopens: int
    agent_replies: int
    csat: int | None


class TicketPage(BaseModel):
    """A page of the tickets behind a figure; pass `next_after` as `after` for the next."""

    metric: str
    period: str
    items: list[TicketRow]
    next_after: str | None


# --- CSV shapes: a report flattened to one figure per row, and the tickets behind a figure ---

REPORT_HEADER = ("figure", "value")


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """`a.b.c` paths to every leaf; list items are named by their identifying field."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else key, inner)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            name = next(
                (
                    str(item[k])
                    for k in ("key", "category", "pain_class", "segment", "goal")
                    if isinstance(item, dict) and k in item
                ),
                str(n),
            )
            yield from _flatten(f"{prefix}[{name}]", item)
    else:
        yield prefix, value


def report_rows(report: Report) -> list[tuple[Any, ...]]:
    """One row per figure of the report, in the order the JSON shows them, under a header."""
    return [REPORT_HEADER, *_flatten("", report.model_dump(mode="json"))]


def ticket_rows(rows: Sequence[TicketRow]) -> list[tuple[Any, ...]]:
    """The drill-down's tickets, one per row, with a header."""
    fields = list(TicketRow.model_fields)
    dumped = [r.model_dump(mode="json") for r in rows]
    return [tuple(fields), *[tuple(d[f] for f in fields) for d in dumped]]
