"""The dashboard's pages: Jinja2 templates in `templates/` with autoescape on, fed by the small
view models below. Whatever came from outside — category names, ids, department names, notes,
titles — is escaped by the template engine, so no page depends on a remembered `esc(...)`; only
the charts, which `charts` draws with every text escaped, arrive as `Markup`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from ticketloop_retrospective.dashboard import charts
from ticketloop_retrospective.dashboard.charts import BLUE, GREEN, GREY, ORANGE, PAIN_COLOURS, RED
from ticketloop_retrospective.dashboard.domain import (
    HOME,
    LOGIN,
    csv_link,
    dashboard_link,
    following,
    switched,
    tickets_link,
)
from ticketloop_retrospective.dashboard.service import Dashboard
from ticketloop_retrospective.rectification.schemas import ItemOut
from ticketloop_retrospective.reports import service as reports
from ticketloop_retrospective.reports.domain import Filters, Period
from ticketloop_retrospective.reports.schemas import Report, TicketPage
from ticketloop_retrospective.reports.service import SEGMENTS
from ticketloop_shared import templates
from ticketloop_shared.auth import Principal
from ticketloop_shared.templates import figure, local_time
from ticketloop_shared.vocabulary import Channel

# Suggestions for the channel filter (any value is accepted: the filter matches what events carry).
CHANNELS = tuple(c.value for c in Channel)
# Headline goals whose current value is a figure over tickets, and the figure that lists them.
GOAL_METRICS = {
    "first_response_time": "first_response_time",
    "first_contact_resolution": "first_contact_resolution",
}


def duration(minutes: float | None) -> str:
    """Minutes as a reader takes them in: minutes up to two hours, hours beyond."""
    if minutes is None or minutes < 120:
        return figure(minutes, " min")
    return figure(round(minutes / 60, 1), " h")


# Built once per process: an environment only reads its templates (and caches them) on first use.
TEMPLATES = templates.environment("ticketloop_retrospective.dashboard")
TEMPLATES.globals.update(home=HOME, login=LOGIN)


def _render(name: str, *, title: str, staff: Principal | None, **context: Any) -> str:
    return TEMPLATES.get_template(name).render(title=title, staff=staff, **context)


def login_page(*, message: str | None = None, next_url: str = HOME) -> str:
    """The form a staff member pastes a token into (it travels in the body, never the URL)."""
    return _render("login.html", title="Sign in", staff=None, message=message, next_url=next_url)


def error_page(title: str, message: str, *, staff: Principal | None, back: str = HOME) -> str:
    """An expected failure (a malformed period, an unknown figure or item), said in words."""
    return _render("error.html", title=title, staff=staff, message=message, back=back)


@dataclass(frozen=True)
class Tile:
    """A headline figure; `definition` (from the metric dictionary) shows on hover."""

    name: str
    figure: str
    href: str | None
    note: str = ""
    definition: str = ""


@dataclass(frozen=True)
class Field:
    """A free-text filter with suggestions."""

    name: str
    label: str
    value: str
    suggestions: Sequence[str]


@dataclass(frozen=True)
class PeriodLink:
    """A neighbouring or switched period, with the current filters kept."""

    label: str
    href: str


def _tiles(r: Report, filters: Filters) -> list[Tile]:
    def tile(name: str, value: str, metric: str, *, note: str = "", linked: bool = True, drill: str = "") -> Tile:
        entry = reports.metric(metric)
        definition = entry.definition if entry is not None else ""
        href = tickets_link(r.period, drill or metric, filters) if linked else None
        return Tile(name, value, href, note, definition)

    return [
        tile("Tickets opened", str(r.tickets_opened), "tickets_opened"),
        tile("Tickets resolved", str(r.tickets_resolved), "tickets_resolved"),
        tile(
            "Backlog at end",
            str(r.backlog.at_end),
            "backlog_end",
            note=f"{r.backlog.flow:+d} over the period (from {r.backlog.at_start})",
        ),
        tile("Resolution rate", figure(r.resolution_rate_pct, " %"), "resolution_rate"),
        tile("First-contact resolution", figure(r.first_contact_resolution_pct, " %"), "first_contact_resolution"),
        tile("Reopen rate", figure(r.reopen_rate_pct, " %"), "reopen_rate"),
        tile("Repeat complaints", figure(r.repeat_complaint_rate_pct, " %"), "repeat_complaint_rate"),
        tile(
            "First response p50",
            duration(r.first_response.median_minutes),
            "first_response_time",
            note=f"p90 {duration(r.first_response.p90_minutes)} · {r.first_response.count} tickets",
        ),
        tile(
            "Resolution time p50",
            duration(r.resolution_time.median_minutes),
            "resolution_time",
            note=f"p90 {duration(r.resolution_time.p90_minutes)}",
        ),
        tile(
            "Handling time p50",
            duration(r.handling_time.median_minutes),
            "handling_time",
            note=f"p90 {duration(r.handling_time.p90_minutes)}",
        ),
        tile(
            "SLA compliance",
            figure(r.sla.compliance_pct, " %"),
            "sla_compliance",
            note=f"{r.sla.met} met · {r.sla.breached} breached",
            drill="sla_breached",
        ),
        tile(
            "CSAT (1–5)",
            figure(r.csat.average),
            "csat",
            note=f"{r.csat.responses} answers · {figure(r.csat.satisfied_pct, ' %')} satisfied",
        ),
        tile("NPS", figure(r.nps.score), "nps", note=f"{r.nps.responses} answers", linked=False),
        tile(
            "Resolved by expected time",
            figure(r.expected_resolution.resolved_by_expected_pct, " %"),
            "expected_resolution",
            note=f"{r.expected_resolution.tickets} with a time expected · median gap "
            f"{figure(r.expected_resolution.median_gap_minutes, ' min')}",
        ),
        # The tickets the loop opened itself, apart from the customers' problems above.
        tile(
            "Care contacts made",
            str(r.proactive.care.made),
            "care_contacts_made",
            note=f"{r.proactive.care.completed} completed",
        ),
        tile(
            "Recovery rate",
            figure(r.proactive.recovery.recovery_rate_pct, " %"),
            "recovery_rate",
            note=f"{r.proactive.recovery.opened} opened · "
            f"{figure(r.proactive.recovery.no_longer_low_pct, ' %')} no longer low after",
        ),
    ]


def _fields(r: Report, filters: Filters, categories: Sequence[str]) -> list[Field]:
    departments = [g.key for g in r.sla.by_department]
    chosen = [*categories, *(c.category for c in r.categories)]
    return [
        Field(name, label, value or "", sorted(set(suggestions)))
        for name, label, value, suggestions in (
            ("channel", "Channel", filters.channel, CHANNELS),
            ("category", "Category", filters.category, chosen),
            ("department", "Department", filters.department, departments),
            ("segment", "Segment", filters.segment, SEGMENTS),
        )
    ]


def _charts(view: Dashboard, filters: Filters) -> dict[str, str]:
    """Every chart of the review, drawn by `charts` (escaped there) and linked to its tickets."""
    return {**_trend_charts(view, filters), **_breakdown_charts(view, filters)}


def _trend_charts(view: Dashboard, filters: Filters) -> dict[str, str]:
    """The weeks or months of the trend: volume, first response, SLA compliance."""
    t = view.trend

    def points(metric: str, values: Sequence[float | None]) -> list[charts.Point]:
        return [
            charts.Point(p.period, v, tickets_link(p.period, metric, filters)) for p, v in zip(t, values, strict=True)
        ]

    return {
        "volume": charts.line_chart(
            "Tickets opened and resolved",
            [
                charts.Series("opened", points("tickets_opened", [p.opened for p in t]), BLUE),
                charts.Series("resolved", points("tickets_resolved", [p.resolved for p in t]), GREEN),
            ],
        ),
        "response": charts.line_chart(
            "First response, median minutes",
            [charts.Series("p50 minutes", points("first_response_time", [p.first_response_p50 for p in t]), ORANGE)],
            unit=" min",
        ),
        "sla": charts.line_chart(
            "SLA compliance, %",
            [charts.Series("compliance %", points("sla_breached", [p.sla_compliance_pct for p in t]), GREEN)],
            unit=" %",
            top=100,
        ),
    }


def _breakdown_charts(view: Dashboard, filters: Filters) -> dict[str, str]:
    """The period's breakdowns: categories, SLA per metric, NPS, impact against difficulty."""
    r = view.report

    def opened(category: str) -> str:
        return tickets_link(r.period, "tickets_opened", filters, category=category)

    def sla_parts(key: str, met: int, breached: int) -> list[charts.Part]:
        return [
            charts.Part("met", met, GREEN, tickets_link(r.period, "sla_met", filters, clock=key)),
            charts.Part("breached", breached, RED, tickets_link(r.period, "sla_breached", filters, clock=key)),
        ]

    return {
        "categories": charts.bar_chart(
            "Tickets opened per category",
            [
                charts.Bar(
                    c.category,
                    c.tickets,
                    opened(c.category),
                    note=f"{figure(c.share_pct)} % · {c.pain_class}",
                    colour=PAIN_COLOURS.get(c.pain_class, GREY),
                )
                for c in r.categories
            ],
        ),
        "sla_metrics": charts.stacked_bars(
            "SLA cycles met and breached per metric",
            [
                charts.Stack(g.key, sla_parts(g.key, g.met, g.breached), figure=figure(g.compliance_pct, " %"))
                for g in r.sla.by_metric
            ],
        ),
        "nps": _nps_chart(view),
        "matrix": charts.matrix(
            "Impact × difficulty of each problem type",
            [
                charts.MatrixPoint(
                    p.rank,
                    p.category,
                    p.impact,
                    p.difficulty,
                    p.quadrant,
                    opened(p.category),
                    PAIN_COLOURS.get(p.pain_class, GREY),
                )
                for p in r.priorities
            ],
        ),
    }


def _nps_chart(view: Dashboard) -> str:
    """Promoters, passives and detractors of the period, with its score."""
    nps = view.report.nps
    parts = [
        charts.Part("promoters", nps.promoters, GREEN),
        charts.Part("passives", nps.passives, GREY),
        charts.Part("detractors", nps.detractors, RED),
    ]
    return charts.stacked_bars("NPS answers", [charts.Stack("NPS answers", parts, figure=f"NPS {figure(nps.score)}")])


def _describe_filters(filters: Filters) -> str:
    chosen = [f"{k} {v}" for k, v in vars(filters).items() if v is not None]
    return "all tickets" if not chosen else ", ".join(chosen)


def dashboard_page(
    view: Dashboard, *, period: Period, filters: Filters, zone: tzinfo, categories: Sequence[str], staff: Principal
) -> str:
    """The weekly or monthly review: figures, trends, problem mix, SLA, satisfaction, priorities,
    open items and headline goals; every ticket-counting figure links to its tickets."""
    r = view.report
    kind = "Week" if r.kind == "week" else "Month"
    before, after, other = period.previous(zone), following(period, zone), switched(period, zone)

    def link(p: Period) -> PeriodLink:
        return PeriodLink(p.label, dashboard_link(p.label, filters))

    def goal_link(goal: str, value: float | None) -> str | None:
        metric = GOAL_METRICS.get(goal)
        return tickets_link(r.period, metric, filters) if metric and value is not None else None

    return _render(
        "dashboard.html",
        title=f"{kind} {r.period}",
        staff=staff,
        r=r,
        kind=kind,
        zone=zone,
        scope=_describe_filters(filters),
        before=link(before),
        after=link(after),
        other=link(other),
        other_view="Monthly" if period.kind == "week" else "Weekly",
        fields=_fields(r, filters, categories),
        tiles=_tiles(r, filters),
        charts=_charts(view, filters),
        colour=lambda pain_class: PAIN_COLOURS.get(pain_class, GREY),
        opened_link=lambda category: tickets_link(r.period, "tickets_opened", filters, category=category),
        metric_link=lambda metric: tickets_link(r.period, metric, filters),
        quadrant_titles=charts.QUADRANT_TITLES,
        items=view.open_items,
        goal_link=goal_link,
    )


def tickets_page(
    page: TicketPage,
    *,
    filters: Filters,
    clock: str | None,
    zone: tzinfo,
    next_url: str | None,
    staff: Principal,
) -> str:
    """The tickets behind one figure, a page at a time, with the CSV of all of them."""
    metric = reports.metric(page.metric)
    title = metric.title if metric else page.metric
    return _render(
        "tickets.html",
        title=f"{title} {page.period}",
        staff=staff,
        heading=title,
        page=page,
        zone=zone,
        definition=metric.definition if metric else "",
        scope=_describe_filters(filters) + (f", SLA metric {clock}" if clock else ""),
        back=dashboard_link(page.period, filters),
        csv=csv_link(page.period, page.metric, filters, clock=clock),
        next_url=next_url,
    )


def rectification_page(item: ItemOut, *, zone: tzinfo, staff: Principal) -> str:
    """One rectification item: why it opened, who owns it, and whether its category cooled."""
    cooled = {True: "yes", False: "no", None: "not yet known"}[item.cooled]
    facts = [
        ("category", item.category),
        ("pain class", item.pain_class),
        ("status", item.status.value),
        ("owner department", item.owner_department or "–"),
        ("threshold", item.threshold),
        ("hot since", item.streak_started or "–"),
        ("last hot week", item.last_hot_week or "–"),
        ("opened", f"{local_time(item.opened_at, zone)} by {item.opened_by}"),
        ("due", local_time(item.due_at, zone)),
        ("closed", local_time(item.closed_at, zone)),
        ("cooled", cooled),
        ("notes", item.notes or "–"),
    ]
    return _render("rectification.html", title=item.title, staff=staff, item=item, facts=facts)
