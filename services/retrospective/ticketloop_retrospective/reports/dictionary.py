"""The metric dictionary: every figure the reports show, with its definition, which tickets it
counts, formula, unit, the events it is computed from and where it appears in a report, published
at `GET /v1/metrics` so a reader can recompute any number from the event stream. The conditions
themselves are `reports/repository.py::Scope`.

The review's ticket figures count customers' problems: the tickets a customer reported (origin
`customer`). The tickets the loop opens itself — care contacts (origin `care`) and recovery after
a low score (origin `recovery`) — are counted in their own figures only (`proactive` in a report).
"""

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
    # Which tickets (or answers, cycles, customers) it counts, in words.
    counts: str = ""
    # Where it appears in a report: JSON paths, `[]` for every item of a list; a path covers
    # everything under it. A headline goal appears as the `goal` of a `headline` row instead (a
    # goal the events cannot measure yet has no figure, and says so in its row's `note`).
    figures: tuple[str, ...] = ()


CREATED = "ticket.created.v1"
RESOLVED = "ticket.resolved.v1"
REOPENED = "ticket.reopened.v1"
REPLIED = "ticket.replied.v1"
ASSIGNED = ("ticket.assigned.v1", "ticket.reassigned.v1")
SLA = ("sla.met.v1", "sla.breached.v1")
ANSWERS = ("feedback.received.v1", "feedback.received.v2")
SEGMENTS = "customer.segment_changed.v1"
LOW_SCORE = "feedback.low_score.v1"

CUSTOMER_TICKETS = (
    "Customer-initiated tickets: origin customer (a ticket whose origin is not known yet counts as "
    "one); care contacts and recovery tickets are not counted."
)
CUSTOMER_CYCLES = (
    "SLA cycles of customer-initiated tickets (origin customer); care contacts and recovery tickets are not counted."
)
ANY_ANSWER = "Survey answers given in the period, whatever ticket (if any) they are about."
CARE_TICKETS = "Care contacts: tickets of origin care, which the loop opened itself."
RECOVERY_TICKETS = "Recovery tickets: tickets of origin recovery, opened after a low score."
CUSTOMERS = "Customers, by the segment announced for them."
SEGMENT_GOAL = "Customers of one segment, over the goal window as of the request (GET /v1/segments)."

METRICS: tuple[Metric, ...] = (
    Metric(
        "tickets_opened",
        "Tickets opened",
        "Customer-initiated tickets created in the period.",
        "count(created_at in period)",
        "tickets",
        (CREATED,),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("tickets_opened",),
    ),
    Metric(
        "tickets_resolved",
        "Tickets resolved",
        "Customer-initiated tickets whose latest resolution falls in the period.",
        "count(resolved_at in period)",
        "tickets",
        (RESOLVED,),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("tickets_resolved",),
    ),
    Metric(
        "backlog_start",
        "Backlog at start",
        "Customer-initiated tickets open when the period began: created before it and not resolved "
        "by then (a resolution reopened before then leaves the ticket open).",
        "count(created_at < start and (resolved_at is null or resolved_at >= start or "
        "resolved_at < reopened_at < start))",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("backlog.at_start",),
    ),
    Metric(
        "backlog_end",
        "Backlog at end",
        "Customer-initiated tickets open when the period ended (the stock), by the same rule as backlog_start.",
        "count(open at end)",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("backlog.at_end",),
    ),
    Metric(
        "backlog_flow",
        "Backlog flow",
        "How the stock of open customer-initiated tickets moved over the period.",
        "backlog_end − backlog_start",
        "tickets",
        (CREATED, RESOLVED, REOPENED),
        counts=CUSTOMER_TICKETS,
        figures=("backlog.flow",),
    ),
    Metric(
        "category_share",
        "Category share",
        "Each problem type's share of the customer-initiated tickets opened in the period.",
        "count(opened, category) / count(opened) × 100",
        "%",
        (CREATED,),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("categories",),
    ),
    Metric(
        "pain_class_share",
        "Pain-point class share",
        "Each pain-point class's share (process, service, product, emotional) of the customer-initiated "
        "tickets opened, by the category → class map (TICKETLOOP_RETROSPECTIVE_PAIN_CLASSES).",
        "Σ category_share of the class's categories",
        "%",
        (CREATED,),
        counts=CUSTOMER_TICKETS,
        figures=("pain_classes",),
    ),
    Metric(
        "resolution_rate",
        "Resolution rate",
        "Of the customer-initiated tickets opened in the period, the share resolved by its end and not reopened since.",
        "count(opened and resolved_at < end and not reopened after) / count(opened) × 100",
        "%",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("resolution_rate_pct",),
    ),
    Metric(
        "first_contact_resolution",
        "First-contact resolution",
        "Of the customer-initiated tickets resolved in the period, the share solved at first contact: "
        "by self-service or with at most one agent reply, and never reopened.",
        "count(resolved and (self_service or agent_replies ≤ 1) and reopens = 0) / count(resolved) × 100",
        "%",
        (RESOLVED, REPLIED, REOPENED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("first_contact_resolution_pct",),
    ),
    Metric(
        "reopen_rate",
        "Reopen rate",
        "Of the customer-initiated tickets resolved in the period, the share reopened at least once.",
        "count(resolved and reopens > 0) / count(resolved) × 100",
        "%",
        (RESOLVED, REOPENED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("reopen_rate_pct",),
    ),
    Metric(
        "repeat_complaint_rate",
        "Repeat-complaint rate",
        "Of the customer-initiated tickets opened in the period, the share the customer reported again "
        "while open (or within the repeat window): a repeat contact.",
        "count(opened and repeat_contacts > 0) / count(opened) × 100",
        "%",
        (CREATED, "ticket.repeat_contact.v1"),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("repeat_complaint_rate_pct",),
    ),
    Metric(
        "first_response_time",
        "First-response time",
        "From creation to the first agent reply, for customer-initiated tickets first answered in the "
        "period: average, p50 and p90.",
        "avg / percentile_cont(0.5, 0.9) of (first_response_at − created_at)",
        "minutes",
        (CREATED, REPLIED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("first_response",),
    ),
    Metric(
        "resolution_time",
        "Resolution time",
        "From creation to the latest resolution, for customer-initiated tickets resolved in the period.",
        "avg / percentile_cont(0.5, 0.9) of (resolved_at − created_at)",
        "minutes",
        (CREATED, RESOLVED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("resolution_time",),
    ),
    Metric(
        "handling_time",
        "Handling time",
        "From the first assignment to the latest resolution, for customer-initiated tickets resolved "
        "in the period: the time the loop had an owner working on it.",
        "avg / percentile_cont(0.5, 0.9) of (resolved_at − first assigned_at)",
        "minutes",
        (*ASSIGNED, RESOLVED),
        drilldown=True,
        counts=CUSTOMER_TICKETS,
        figures=("handling_time",),
    ),
    Metric(
        "expected_resolution",
        "Resolved by the customer's expected time",
        "Customer-initiated tickets resolved in the period for which the customer gave an expected "
        "resolution time at intake: how many, the share resolved at or before it, and the gap "
        "(latest resolution − expected; negative when earlier), p50 and average.",
        "count(resolved and expected_at known); count(resolved_at ≤ expected_at) / count × 100; "
        "percentile_cont(0.5) and avg of (resolved_at − expected_at)",
        "% / minutes",
        (CREATED, RESOLVED),
        drilldown=True,
        counts=CUSTOMER_TICKETS + " Only tickets with an expected resolution time.",
        figures=("expected_resolution",),
    ),
    Metric(
        "expected_resolution_missed",
        "Resolved later than the customer expected",
        "Customer-initiated tickets resolved in the period after the resolution time the customer expected.",
        "count(resolved and resolved_at > expected_at)",
        "tickets",
        (CREATED, RESOLVED),
        drilldown=True,
        counts=CUSTOMER_TICKETS + " Only tickets with an expected resolution time.",
    ),
    Metric(
        "sla_compliance",
        "SLA compliance",
        "Of the SLA cycles of customer-initiated tickets that ended in the period (met at their stop, "
        "breached at their due instant), the share met; overall, per metric, per department and per "
        "segment. A breach is final: a later stop of the same cycle does not make it met.",
        "count(met) / count(met + breached) × 100",
        "%",
        SLA,
        drilldown=True,
        counts=CUSTOMER_CYCLES,
        figures=("sla",),
    ),
    Metric(
        "sla_met",
        "SLA cycles met",
        "Customer-initiated tickets with an SLA cycle met in the period (of one metric, with `clock`).",
        "tickets with a cycle where outcome = met and stopped_at in period",
        "tickets",
        SLA,
        drilldown=True,
        counts=CUSTOMER_CYCLES,
    ),
    Metric(
        "sla_breached",
        "SLA cycles breached",
        "Customer-initiated tickets with an SLA cycle breached in the period (of one metric, with `clock`).",
        "tickets with a cycle where outcome = breached and breached_at in period",
        "tickets",
        SLA,
        drilldown=True,
        counts=CUSTOMER_CYCLES,
    ),
    Metric(
        "csat",
        "Customer satisfaction (CSAT)",
        "Per-ticket satisfaction answers (1–5) given in the period: responses, average and the share satisfied (4–5).",
        "avg(csat); count(csat ≥ 4) / count(csat) × 100",
        "score 1–5",
        ANSWERS,
        drilldown=True,
        counts=ANY_ANSWER + " The drill-down lists the tickets answered in the period.",
        figures=("csat",),
    ),
    Metric(
        "dimension_scores",
        "Relationship dimension scores",
        "Average of each relationship-survey dimension (quality, response speed, resolution "
        "effect, care experience, overall; 1–10) answered in the period.",
        "avg(score) per dimension",
        "score 1–10",
        ("feedback.received.v2",),
        counts=ANY_ANSWER,
        figures=("dimensions",),
    ),
    Metric(
        "nps",
        "Net Promoter Score",
        "NPS answers (0–10) given in the period: promoters 9–10, passives 7–8, detractors 0–6.",
        "% promoters − % detractors",
        "score −100…100",
        ANSWERS,
        counts=ANY_ANSWER,
        figures=("nps",),
    ),
    Metric(
        "customers_per_segment",
        "Customers per segment",
        "Customers in each segment (new, high_value, churn_risk, potential) at the period's end, "
        "and the change from the previous period's end.",
        "count(customers whose latest segment change before end is s)",
        "customers",
        (SEGMENTS,),
        counts=CUSTOMERS,
        figures=("segments",),
    ),
    Metric(
        "overall_satisfaction",
        "Overall satisfaction (0–100)",
        "The headline satisfaction: relationship answers' overall score × 10 and per-ticket CSAT "
        "mapped (csat − 1) × 25, averaged over all answers in the period.",
        "avg(overall × 10 ∪ (csat − 1) × 25)",
        "score 0–100",
        ANSWERS,
        counts=ANY_ANSWER,
    ),
    Metric(
        "problem_priority",
        "Problem priority (impact × difficulty)",
        "Per category of the customer-initiated tickets opened: impact = mean of customers affected and "
        "revenue affected (annual spend), difficulty = mean of handling time, reopen rate and departments "
        "involved, each scaled to the period's largest; quick wins (high impact, low difficulty) first.",
        "impact = (customers/max + revenue/max) / 2; difficulty = (handling/max + reopen/max + "
        "(departments − 1)/(max − 1)) / 3",
        "score 0–1",
        (CREATED, *ASSIGNED, RESOLVED, REOPENED),
        counts=CUSTOMER_TICKETS,
        figures=("priorities",),
    ),
    Metric(
        "hot_category",
        "Hot category",
        "A category whose share of the week's customer-initiated tickets (or count, by setting) stays "
        "above its threshold for 3 consecutive weeks opens one rectification item per streak; care "
        "contacts and recovery tickets never make a category hot.",
        "share_pct(category, week) > threshold for weeks w−2, w−1, w",
        "weeks",
        (CREATED,),
        counts=CUSTOMER_TICKETS,
    ),
    Metric(
        "care_contacts_made",
        "Care contacts made",
        "Care contacts the loop opened in the period.",
        "count(origin = care and created_at in period)",
        "contacts",
        (CREATED,),
        drilldown=True,
        counts=CARE_TICKETS,
        figures=("proactive.care.made",),
    ),
    Metric(
        "care_contacts_completed",
        "Care contacts completed",
        "Care contacts resolved (the contact was made) in the period.",
        "count(origin = care and resolved_at in period)",
        "contacts",
        (RESOLVED,),
        drilldown=True,
        counts=CARE_TICKETS,
        figures=("proactive.care.completed",),
    ),
    Metric(
        "care_outcomes",
        "Care contact outcomes",
        "Care contacts completed in the period per outcome the agent recorded (reached, no_answer, "
        "declined, follow_up), with `unreachable` for a last attempt left unanswered (after "
        "TICKETLOOP_RETROSPECTIVE_CARE_MAX_ATTEMPTS, the contact stops).",
        "count(care completion with completed_at in period) per outcome",
        "contacts",
        (RESOLVED,),
        counts=CARE_TICKETS,
        figures=("proactive.care.outcomes",),
    ),
    Metric(
        "recovery_tickets_opened",
        "Recovery tickets opened",
        "Recovery tickets the loop opened in the period after a low score.",
        "count(origin = recovery and created_at in period)",
        "tickets",
        (CREATED,),
        drilldown=True,
        counts=RECOVERY_TICKETS,
        figures=("proactive.recovery.opened",),
    ),
    Metric(
        "recovery_tickets_resolved",
        "Recovery tickets resolved",
        "Recovery tickets whose latest resolution falls in the period.",
        "count(origin = recovery and resolved_at in period)",
        "tickets",
        (RESOLVED,),
        drilldown=True,
        counts=RECOVERY_TICKETS,
        figures=("proactive.recovery.resolved",),
    ),
    Metric(
        "recovery_rate",
        "Recovery rate",
        "Of the recovery tickets opened in the period, the share resolved by its end and not reopened since.",
        "count(origin = recovery and opened and resolved_at < end and not reopened after) / "
        "count(origin = recovery and opened) × 100",
        "%",
        (CREATED, RESOLVED, REOPENED),
        drilldown=True,
        counts=RECOVERY_TICKETS,
        figures=("proactive.recovery.recovery_rate_pct",),
    ),
    Metric(
        "recovery_next_score",
        "Recovered customers no longer low",
        "Of the recovery tickets resolved in the period (and not reopened since) whose customer "
        "answered any survey after the resolution and before the period's end: how many, and the "
        "share whose first such answer raised no low score (feedback's own low-score rule, "
        "announced as feedback.low_score).",
        "count(first answer after resolved_at is not a low score) / count(answered after resolved_at) × 100",
        "%",
        (CREATED, RESOLVED, REOPENED, *ANSWERS, LOW_SCORE),
        counts=RECOVERY_TICKETS + " Their customers' survey answers.",
        figures=(
            "proactive.recovery.next_answers",
            "proactive.recovery.no_longer_low",
            "proactive.recovery.no_longer_low_pct",
        ),
    ),
)

# --- Goals (the goals feature: goals/) — the figures of the report's `headline` block and of
# GET /v1/goals. Every goal is measured over the period and over its baseline period.
ORDERS = "order.recorded.v1"
GOAL_METRICS: tuple[Metric, ...] = (
    Metric(
        "goal_baseline",
        "Goal baseline, change, target and met",
        "Each goal is measured over its baseline period (default: the first 4 complete report weeks "
        "of data, from the first Monday at or after the first ticket; TICKETLOOP_RETROSPECTIVE_GOAL_BASELINES "
        "or PUT /v1/goals/{goal}/baseline choose another) and over the report's period — never against "
        "the previous period. A goal stated as a change (+40 %, −60 %) targets the baseline × (1 ± "
        "change); one stated as a level (≥ 90) targets that level. A percentage target is capped at 100. "
        "Unmeasured (met null) when the value, the baseline or the baseline's end is missing; `note` says why.",
        "change_pct = (current − baseline) / |baseline| × 100; target_value = baseline + |baseline| × "
        "change / 100; met = current ≥ target_value (≤ for a reduction)",
        "as the goal's figure",
        (CREATED, RESOLVED, REPLIED, *ANSWERS, SEGMENTS),
        counts="What the goal itself counts (each goal below says), over the baseline and the report's period.",
    ),
    Metric(
        "core_touchpoint_satisfaction",
        "Core-touchpoint satisfaction (0–100)",
        "Per core touchpoint — each channel a customer reaches the company on (app, web, messaging, "
        "email, phone, counter; TICKETLOOP_RETROSPECTIVE_GOAL_CORE_TOUCHPOINTS), not `proactive` — the "
        "per-ticket CSAT answered in the period about tickets reported on that channel, as (csat − 1) × 25. "
        "The goal's figure is the weakest touchpoint's: every core touchpoint must reach 92.",
        "min over touchpoints of avg((csat − 1) × 25 | ticket.channel = touchpoint)",
        "score 0–100",
        (CREATED, *ANSWERS),
        counts="Per-ticket satisfaction answers about customer-initiated tickets reported on a core touchpoint.",
    ),
    Metric(
        "complaints",
        "Core-touchpoint complaints",
        "Customer-initiated tickets (origin `customer`: care contacts and recovery tickets never count) "
        "whose need is `complaint`, on a core touchpoint, opened in the period, as a weekly "
        "rate so a four-week baseline, a week and a month compare. Goal: −60 % on the baseline.",
        "count(created_at in period and need = 'complaint' and origin = 'customer' and channel in core) "
        "× 7 / days(period)",
        "complaints per week",
        (CREATED,),
        counts=CUSTOMER_TICKETS,
    ),
    Metric(
        "retention",
        "Retention",
        "Of the customers active in the goal's baseline period (a ticket they opened themselves, or a "
        "survey answer), the share not in churn_risk at the end of the period (the segment the customer "
        "model announced last before then; a customer never given a segment has not churned). The "
        "baseline figure is the same share at the baseline's end. Goal: +25 % (at most 100 %).",
        "count(cohort and segment_at(end) ≠ churn_risk) / count(cohort) × 100",
        "%",
        (CREATED, *ANSWERS, SEGMENTS),
        counts="Customers active in the baseline period (a ticket of their own or a survey answer).",
    ),
    Metric(
        "repeat_purchase",
        "Repeat purchase",
        "Customers' repurchase rate in the period, from the orders the commerce system records; +30 % "
        "on the baseline. Unmeasured while no customer had bought before the period.",
        "orders.service.repurchase_rate(segment=None, period)",
        "%",
        (ORDERS,),
        counts="Customers who had bought before the period (purchases: orders not cancelled or returned).",
    ),
    Metric(
        "high_value_repurchase",
        "High-value repurchase",
        "The repurchase rate of high-value customers in the period (SPEC §5): +15 % on the baseline. "
        "Unmeasured while no customer had bought before the period.",
        "orders.service.repurchase_rate(segment='high_value', period)",
        "%",
        (ORDERS, SEGMENTS),
        counts="High-value customers at the period's start who had bought before it.",
    ),
    Metric(
        "customer_lifetime_value",
        "Customer lifetime value",
        "Not measured yet: needs each customer's revenue over the whole relationship; until orders are "
        "recorded (order.recorded) the loop knows only the annual spend a customer states on a ticket. "
        "Referrals (+25 %) have no entry: nothing records a referral, so that goal has no figure.",
        "Σ order amounts per customer over the relationship (once wired)",
        "currency",
        (ORDERS,),
        counts="Nothing yet (not measured).",
    ),
    Metric(
        "new_customer_activation_30d",
        "New customers' 30-day activation",
        "Of the customers who became `new` in the last goal window (TICKETLOOP_RETROSPECTIVE_GOAL_WINDOW_DAYS) "
        "and whose first 30 days are over, the share with a customer interaction within those 30 days. "
        "An absolute target (≥ 80 %), measured as of now.",
        "count(activated) / count(matured cohort) × 100",
        "%",
        (CREATED, *ANSWERS, SEGMENTS),
        counts=SEGMENT_GOAL,
    ),
    Metric(
        "high_value_satisfaction",
        "High-value satisfaction",
        "The average 0–100 satisfaction of the answers given in the goal window by customers high-value "
        "now. An absolute target (≥ 90), measured as of now.",
        "avg(satisfaction | segment = high_value)",
        "score 0–100",
        (*ANSWERS, SEGMENTS),
        counts=SEGMENT_GOAL,
    ),
    Metric(
        "churn_risk_recovery",
        "Churn-risk recovery",
        "Of the customers who entered churn_risk in the goal window, the share who later left it. An "
        "absolute target (≥ 50 %), measured as of now.",
        "count(left churn_risk) / count(entered churn_risk) × 100",
        "%",
        (SEGMENTS,),
        counts=SEGMENT_GOAL,
    ),
)
METRICS = METRICS + GOAL_METRICS

BY_NAME = {m.name: m for m in METRICS}
# The figures a report links to their tickets: category shares drill through `tickets_opened`
# with a category, SLA compliance through its two halves.
DRILLDOWN = frozenset(m.name for m in METRICS if m.drilldown) - {"category_share", "sla_compliance"}
# The parts of a report that are not figures: what it is about, and its links.
REPORT_CONTEXT = frozenset({"period", "kind", "starts_at", "ends_at", "filters", "drilldown", "headline"})


def defining(path: str) -> Metric | None:
    """The metric that defines the report figure at `path` (`sla.by_metric[].met`), if any."""
    for m in METRICS:
        for figure in m.figures:
            if path == figure or path.startswith((f"{figure}.", f"{figure}[")):
                return m
    return None
