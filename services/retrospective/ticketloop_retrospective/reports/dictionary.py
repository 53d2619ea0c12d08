"""The metric dictionary: every figure the reports show, with its definition, formula, unit and
the events it is computed from, published at `GET /v1/metrics` so a reader can recompute any
number from the event stream. The conditions themselves are `reports/repository.py::Scope`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One figure of the review."""

    name: str
    title: str
    definition: str
    formula: str
    unit: str
    source_events: tuple[str, ...]
    # The figure counts tickets, so it can be drilled down to them (`/v1/reports/tickets`).
    drilldown: bool = False


CREATED = "ticket.created.v1"
RESOLVED = "ticket.resolved.v1"
REOPENED = "ticket.reopened.v1"
REPLIED = "ticket.replied.v1"
ASSIGNED = ("ticket.assigned.v1", "ticket.reassigned.v1")
SLA = ("sla.met.v1", "sla.breached.v1")
ANSWERS = ("feedback.received.v1", "feedback.received.v2")
SEGMENTS = "customer.segment_changed.v1"

METRICS: tuple[Metric, ...] = (
    Metric(
        "tickets_opened",
        "Tickets opened",
        "Tickets created in the period.",
        "count(created_at in period)",
        "tickets",
        (CREATED,),
        drilldown=True,
    ),
    Metric(
        "tickets_resolved",
        "Tickets resolved",
        "Tickets whose latest resolution falls in the period.",
        "count(resolved_at in period)",
        "tickets",
        (RESOLVED,),
        drilldown=True,
    ),
    Metric(
        "backlog_start",
        "Backlog at start",
        "Tickets open when the period began: created before it and not resolved by then (a "
        "resolution reopened before then leaves the ticket open).",
        "count(created_at < start and (resolved_at is null or resolved_at >= start or "
        "resolved_at < reopened_at < start))",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
    ),
    Metric(
        "backlog_end",
        "Backlog at end",
        "Tickets open when the period ended (the stock), by the same rule as backlog_start.",
        "count(open at end)",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
    ),
    Metric(
        "backlog_flow",
        "Backlog flow",
        "How the stock moved over the period.",
        "backlog_end − backlog_start",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
    ),
    Metric(
        "category_share",
        "Category share",
        "Each problem type's share of the tickets opened in the period.",
        "count(opened, category) / count(opened) × 100",
        "%",
        (CREATED,),
        drilldown=True,
    ),
    Metric(
        "pain_class_share",
        "Pain-point class share",
        "Each pain-point class's share (process, service, product, emotional) of the tickets "
        "opened, by the category → class map (TICKETLOOP_RETROSPECTIVE_PAIN_CLASSES).",
        "Σ category_share of the class's categories",
        "%",
        (CREATED,),
    ),
    Metric(
        "resolution_rate",
        "Resolution rate",
        "Of the tickets opened in the period, the share resolved by its end and not reopened since.",
        "count(opened and resolved_at < end and not reopened after) / count(opened) × 100",
        "%",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
    ),
    Metric(
        "first_contact_resolution",
        "First-contact resolution",
        "Of the tickets resolved in the period, the share solved at first contact: by self-service "
        "or with at most one agent reply, and never reopened.",
        "count(resolved and (self_service or agent_replies ≤ 1) and reopens = 0) / count(resolved) × 100",
        "%",
        (RESOLVED, REPLIED, REOPENED),
        drilldown=True,
    ),
    Metric(
        "reopen_rate",
        "Reopen rate",
        "Of the tickets resolved in the period, the share reopened at least once.",
        "count(resolved and reopens > 0) / count(resolved) × 100",
        "%",
        (RESOLVED, REOPENED),
        drilldown=True,
    ),
    Metric(
        "repeat_complaint_rate",
        "Repeat-complaint rate",
        "Of the tickets opened in the period, the share the customer reported again while open "
        "(or within the repeat window): a repeat contact.",
        "count(opened and repeat_contacts > 0) / count(opened) × 100",
        "%",
        (CREATED, "ticket.repeat_contact.v1"),
        drilldown=True,
    ),
    Metric(
        "first_response_time",
        "First-response time",
        "From creation to the first agent reply, for tickets first answered in the period: average, p50 and p90.",
        "avg / percentile_cont(0.5, 0.9) of (first_response_at − created_at)",
        "minutes",
        (CREATED, REPLIED),
        drilldown=True,
    ),
    Metric(
        "resolution_time",
        "Resolution time",
        "From creation to the latest resolution, for tickets resolved in the period.",
        "avg / percentile_cont(0.5, 0.9) of (resolved_at − created_at)",
        "minutes",
        (CREATED, RESOLVED),
        drilldown=True,
    ),
    Metric(
        "handling_time",
        "Handling time",
        "From the first assignment to the latest resolution, for tickets resolved in the period: "
        "the time the loop had an owner working on it.",
        "avg / percentile_cont(0.5, 0.9) of (resolved_at − first assigned_at)",
        "minutes",
        (*ASSIGNED, RESOLVED),
        drilldown=True,
    ),
    Metric(
        "sla_compliance",
        "SLA compliance",
        "Of the SLA cycles that ended in the period (met at their stop, breached at their due "
        "instant), the share met; overall, per metric, per department and per segment. A breach "
        "is final: a later stop of the same cycle does not make it met.",
        "count(met) / count(met + breached) × 100",
        "%",
        SLA,
        drilldown=True,
    ),
    Metric(
        "csat",
        "Customer satisfaction (CSAT)",
        "Per-ticket satisfaction answers (1–5) given in the period: responses, average and the share satisfied (4–5).",
        "avg(csat); count(csat ≥ 4) / count(csat) × 100",
        "score 1–5",
        ANSWERS,
        drilldown=True,
    ),
    Metric(
        "dimension_scores",
        "Relationship dimension scores",
        "Average of each relationship-survey dimension (quality, response speed, resolution "
        "effect, care experience, overall; 1–10) answered in the period.",
        "avg(score) per dimension",
        "score 1–10",
        ("feedback.received.v2",),
    ),
    Metric(
        "nps",
        "Net Promoter Score",
        "NPS answers (0–10) given in the period: promoters 9–10, passives 7–8, detractors 0–6.",
        "% promoters − % detractors",
        "score −100…100",
        ANSWERS,
    ),
    Metric(
        "customers_per_segment",
        "Customers per segment",
        "Customers in each segment (new, high_value, churn_risk, potential) at the period's end, "
        "and the change from the previous period's end.",
        "count(customers whose latest segment change before end is s)",
        "customers",
        (SEGMENTS,),
    ),
    Metric(
        "overall_satisfaction",
        "Overall satisfaction (0–100)",
        "The headline satisfaction: relationship answers' overall score × 10 and per-ticket CSAT "
        "mapped (csat − 1) × 25, averaged over all answers in the period.",
        "avg(overall × 10 ∪ (csat − 1) × 25)",
        "score 0–100",
        ANSWERS,
    ),
    Metric(
        "problem_priority",
        "Problem priority (impact × difficulty)",
        "Per category of the tickets opened: impact = mean of customers affected and revenue "
        "affected (annual spend), difficulty = mean of handling time, reopen rate and departments "
        "involved, each scaled to the period's largest; quick wins (high impact, low difficulty) first.",
        "impact = (customers/max + revenue/max) / 2; difficulty = (handling/max + reopen/max + "
        "(departments − 1)/(max − 1)) / 3",
        "score 0–1",
        (CREATED, *ASSIGNED, RESOLVED, REOPENED),
    ),
    Metric(
        "hot_category",
        "Hot category",
        "A category whose share of the week's tickets (or count, by setting) stays above its "
        "threshold for 3 consecutive weeks opens one rectification item per streak.",
        "share_pct(category, week) > threshold for weeks w−2, w−1, w",
        "weeks",
        (CREATED,),
    ),
)

BY_NAME = {m.name: m for m in METRICS}
DRILLDOWN = frozenset(m.name for m in METRICS if m.drilldown) - {"category_share", "sla_compliance"} | {
    "sla_met",
    "sla_breached",
}
