"""The dashboard's HTML, written as small functions over the report models rather than a template
engine (one fewer dependency, and mypy checks every field a page reads). Everything that came
from outside — category names, ids, department names, notes — goes through `esc`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from ticketloop_retrospective.dashboard import charts
from ticketloop_retrospective.dashboard.charts import BLUE, GREEN, GREY, ORANGE, PAIN_COLOURS, RED, esc, fmt
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
from ticketloop_retrospective.reports.dictionary import BY_NAME
from ticketloop_retrospective.reports.domain import Period
from ticketloop_retrospective.reports.repository import Filters
from ticketloop_retrospective.reports.schemas import GroupCompliance, Report, TicketPage
from ticketloop_retrospective.reports.service import SEGMENTS
from ticketloop_shared.auth import Principal
from ticketloop_shared.vocabulary import Channel

# Suggestions for the channel filter (any value is accepted: the filter matches what events carry).
CHANNELS = tuple(c.value for c in Channel)
# Headline goals whose current value is a count of tickets, and the figure that lists them.
GOAL_METRICS = {
    "first_response_time": "first_response_time",
    "first_contact_resolution": "first_contact_resolution",
    "complaints": "tickets_opened",
}
# The two drill-downs of SLA compliance (the dictionary defines the figure, not its halves).
SLA_TITLES = {"sla_met": "SLA cycles met", "sla_breached": "SLA cycles breached"}

STYLE = """
:root{color-scheme:light;--ink:#1d2733;--muted:#5b6775;--line:#dde3ea;--accent:#0072b2}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--ink);background:#f5f7fa}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;padding:.6rem 1.2rem;
background:#1d2733;color:#fff}
header a{color:#fff}
header form{margin:0}
main{max-width:1180px;margin:0 auto;padding:1rem 1.2rem 3rem}
h1{font-size:1.35rem;margin:.2rem 0}
h2{font-size:1.05rem;margin:0 0 .5rem}
a{color:var(--accent)}
.muted{color:var(--muted)}
nav.periods{display:flex;gap:.8rem;flex-wrap:wrap;margin:.3rem 0 .8rem}
form.filters{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end;margin-bottom:1rem}
form.filters label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
input,select,button,textarea{font:inherit;padding:.3rem .45rem;border:1px solid #b8c2cc;border-radius:4px}
button{background:var(--accent);color:#fff;border-color:var(--accent);cursor:pointer}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6rem;margin-bottom:1rem}
.tile{display:block;background:#fff;border:1px solid var(--line);border-radius:6px;padding:.55rem .7rem;
text-decoration:none;color:inherit}
a.tile:hover{border-color:var(--accent)}
.tile .figure{display:block;font-size:1.45rem;font-weight:600}
.tile .name{display:block;font-size:.8rem;color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:.8rem}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.7rem .8rem;overflow-x:auto}
section.wide{grid-column:1/-1}
svg.chart{max-width:100%;height:auto;display:block}
svg.chart a:hover circle,svg.chart a:hover rect{opacity:.75}
table{border-collapse:collapse;width:100%;font-size:.86rem}
th,td{text-align:left;padding:.25rem .45rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.met{color:#00734f}.missed{color:#b34400}
.error{background:#fde8e0;border:1px solid #e5a48a;padding:.5rem .7rem;border-radius:4px}
.side{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}.grow{flex:1}
form.login{display:flex;flex-direction:column;gap:.6rem;max-width:560px}
"""


def layout(title: str, main: str, *, staff: Principal | None) -> str:
    """A whole page: its title, the signed-in member with a sign-out button, and `main`."""
    who = (
        f"<span>{esc(staff.name or staff.sub)} · {esc(staff.role.value)}</span>"
        f'<form method="post" action="{HOME}/logout"><button type="submit">Sign out</button></form>'
        if staff is not None
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no favicon request to answer with a 404
        f"<title>{esc(title)} · ticketloop review</title><style>{STYLE}</style></head><body>"
        f'<header><a href="{HOME}"><strong>ticketloop review</strong></a>{who}</header>'
        f"<main>{main}</main></body></html>"
    )


def login_page(*, message: str | None = None, next_url: str = HOME) -> str:
    """The form a staff member pastes a token into (it travels in the body, never the URL)."""
    error = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    main = (
        "<h1>Sign in to the review</h1>"
        f"{error}"
        f'<form class="login" method="post" action="{LOGIN}">'
        '<label for="token">Staff token (agent, supervisor or admin)</label>'
        '<textarea id="token" name="token" rows="4" required autocomplete="off" spellcheck="false"></textarea>'
        f'<input type="hidden" name="next" value="{esc(next_url)}">'
        '<button type="submit">Sign in</button></form>'
        '<p class="muted">Get one with <code>make token ROLE=supervisor SUB=you DEPARTMENT=finance</code>. '
        "It is kept in an HttpOnly cookie for this dashboard only, until it expires or you sign out.</p>"
    )
    return layout("Sign in", main, staff=None)


def error_page(title: str, message: str, *, staff: Principal | None, back: str = HOME) -> str:
    """An expected failure (a malformed period, an unknown figure or item), said in words."""
    main = f'<h1>{esc(title)}</h1><p class="error" role="alert">{esc(message)}</p><p><a href="{esc(back)}">Back</a></p>'
    return layout(title, main, staff=staff)


def duration(minutes: float | None) -> str:
    """Minutes as a reader takes them in: minutes up to two hours, hours beyond."""
    if minutes is None or minutes < 120:
        return fmt(minutes, " min")
    return fmt(round(minutes / 60, 1), " h")


def _tile(name: str, figure: str, *, href: str | None, note: str = "", metric: str | None = None) -> str:
    definition = BY_NAME[metric].definition if metric in BY_NAME else ""
    title_attr = f' title="{esc(definition)}"' if definition else ""
    inner = f'<span class="figure">{esc(figure)}</span><span class="name">{esc(name)}</span>' + (
        f'<span class="name">{esc(note)}</span>' if note else ""
    )
    if href:
        return f'<a class="tile" href="{esc(href)}"{title_attr}>{inner}</a>'
    return f'<div class="tile"{title_attr}>{inner}</div>'


def _tiles(r: Report, filters: Filters) -> str:
    def link(metric: str) -> str:
        return tickets_link(r.period, metric, filters)

    flow = f"{r.backlog.flow:+d} over the period (from {r.backlog.at_start})"
    tiles = [
        _tile("Tickets opened", str(r.tickets_opened), href=link("tickets_opened"), metric="tickets_opened"),
        _tile("Tickets resolved", str(r.tickets_resolved), href=link("tickets_resolved"), metric="tickets_resolved"),
        _tile("Backlog at end", str(r.backlog.at_end), href=link("backlog_end"), note=flow, metric="backlog_end"),
        _tile(
            "Resolution rate",
            fmt(r.resolution_rate_pct, " %"),
            href=link("resolution_rate"),
            metric="resolution_rate",
        ),
        _tile(
            "First-contact resolution",
            fmt(r.first_contact_resolution_pct, " %"),
            href=link("first_contact_resolution"),
            metric="first_contact_resolution",
        ),
        _tile("Reopen rate", fmt(r.reopen_rate_pct, " %"), href=link("reopen_rate"), metric="reopen_rate"),
        _tile(
            "Repeat complaints",
            fmt(r.repeat_complaint_rate_pct, " %"),
            href=link("repeat_complaint_rate"),
            metric="repeat_complaint_rate",
        ),
        _tile(
            "First response p50",
            duration(r.first_response.median_minutes),
            href=link("first_response_time"),
            note=f"p90 {duration(r.first_response.p90_minutes)} · {r.first_response.count} tickets",
            metric="first_response_time",
        ),
        _tile(
            "Resolution time p50",
            duration(r.resolution_time.median_minutes),
            href=link("resolution_time"),
            note=f"p90 {duration(r.resolution_time.p90_minutes)}",
            metric="resolution_time",
        ),
        _tile(
            "Handling time p50",
            duration(r.handling_time.median_minutes),
            href=link("handling_time"),
            note=f"p90 {duration(r.handling_time.p90_minutes)}",
            metric="handling_time",
        ),
        _tile(
            "SLA compliance",
            fmt(r.sla.compliance_pct, " %"),
            href=link("sla_breached"),
            note=f"{r.sla.met} met · {r.sla.breached} breached",
            metric="sla_compliance",
        ),
        _tile(
            "CSAT (1–5)",
            fmt(r.csat.average),
            href=link("csat"),
            note=f"{r.csat.responses} answers · {fmt(r.csat.satisfied_pct, ' %')} satisfied",
            metric="csat",
        ),
        _tile("NPS", fmt(r.nps.score), href=None, note=f"{r.nps.responses} answers", metric="nps"),
    ]
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _options(values: Iterable[str]) -> str:
    return "".join(f'<option value="{esc(v)}">' for v in sorted(set(values)))


def _filter_form(r: Report, filters: Filters, categories: Sequence[str]) -> str:
    def field(name: str, label: str, value: str | None, suggestions: Iterable[str]) -> str:
        return (
            f'<label>{esc(label)}<input name="{name}" value="{esc(value or "")}" list="{name}-list" '
            f'placeholder="any"><datalist id="{name}-list">{_options(suggestions)}</datalist></label>'
        )

    departments = [g.key for g in r.sla.by_department]
    return (
        f'<form class="filters" method="get" action="{HOME}" role="search">'
        f'<label>Period<input name="period" value="{esc(r.period)}" size="9" '
        'pattern="[0-9]{4}-(W[0-9]{2}|[0-9]{2})" title="an ISO week (2026-W48) or a month (2026-11)"></label>'
        + field("channel", "Channel", filters.channel, CHANNELS)
        + field("category", "Category", filters.category, [*categories, *(c.category for c in r.categories)])
        + field("department", "Department", filters.department, departments)
        + field("segment", "Segment", filters.segment, SEGMENTS)
        + f'<button type="submit">Show</button> <a href="{HOME}?period={esc(r.period)}">Clear filters</a></form>'
    )


def _periods(period: Period, filters: Filters, zone: tzinfo) -> str:
    before, after, other = period.previous(zone), following(period, zone), switched(period, zone)
    view = "Monthly" if period.kind == "week" else "Weekly"
    return (
        '<nav class="periods" aria-label="Periods">'
        f'<a href="{esc(dashboard_link(before.label, filters))}" rel="prev">← {esc(before.label)}</a>'
        f'<a href="{esc(dashboard_link(after.label, filters))}" rel="next">{esc(after.label)} →</a>'
        f'<a href="{esc(dashboard_link(other.label, filters))}">{view} view ({esc(other.label)})</a>'
        "</nav>"
    )


def _card(title: str, body: str, *, wide: bool = False, ident: str = "") -> str:
    attrs = f' id="{esc(ident)}"' if ident else ""
    return f'<section class="card{" wide" if wide else ""}"{attrs}><h2>{esc(title)}</h2>{body}</section>'


def _trends(view: Dashboard, filters: Filters) -> str:
    def points(metric: str, values: Sequence[float | None]) -> list[charts.Point]:
        return [
            charts.Point(p.period, v, tickets_link(p.period, metric, filters))
            for p, v in zip(view.trend, values, strict=True)
        ]

    t = view.trend
    volume = charts.line_chart(
        "Tickets opened and resolved",
        [
            charts.Series("opened", points("tickets_opened", [p.opened for p in t]), BLUE),
            charts.Series("resolved", points("tickets_resolved", [p.resolved for p in t]), GREEN),
        ],
    )
    response = charts.line_chart(
        "First response, median minutes",
        [charts.Series("p50 minutes", points("first_response_time", [p.first_response_p50 for p in t]), ORANGE)],
        unit=" min",
    )
    sla = charts.line_chart(
        "SLA compliance, %",
        [charts.Series("compliance %", points("sla_breached", [p.sla_compliance_pct for p in t]), GREEN)],
        unit=" %",
        top=100,
    )
    return (
        _card("Tickets opened and resolved", volume, ident="trend-volume")
        + _card("First response, median (minutes)", response, ident="trend-response")
        + _card("SLA compliance (%)", sla, ident="trend-sla")
    )


def _categories(r: Report, filters: Filters) -> str:
    bars = [
        charts.Bar(
            c.category,
            c.tickets,
            tickets_link(r.period, "tickets_opened", filters, category=c.category),
            note=f"{fmt(c.share_pct)} % · {c.pain_class}",
            colour=PAIN_COLOURS.get(c.pain_class, GREY),
        )
        for c in r.categories
    ]
    classes = "".join(
        f'<tr><td><span style="color:{PAIN_COLOURS.get(p.pain_class, GREY)}">■</span> {esc(p.pain_class)}</td>'
        f'<td class="num">{p.tickets}</td><td class="num">{fmt(p.share_pct)} %</td></tr>'
        for p in r.pain_classes
    )
    table = (
        '<table><caption class="muted">Pain-point classes</caption>'
        '<tr><th>class</th><th class="num">tickets</th><th class="num">share</th></tr>'
        f"{classes}</table>"
        if classes
        else ""
    )
    return _card(
        "Problem types (tickets opened)",
        charts.bar_chart("Tickets opened per category", bars) + table,
        ident="categories",
    )


def _compliance_rows(groups: Sequence[GroupCompliance]) -> str:
    return "".join(
        f'<tr><td>{esc(g.key)}</td><td class="num">{g.met}</td><td class="num">{g.breached}</td>'
        f'<td class="num">{fmt(g.compliance_pct, " %")}</td></tr>'
        for g in groups
    )


def _sla(r: Report, filters: Filters) -> str:
    stacks = [
        charts.Stack(
            g.key,
            [
                charts.Part("met", g.met, GREEN, tickets_link(r.period, "sla_met", filters, clock=g.key)),
                charts.Part("breached", g.breached, RED, tickets_link(r.period, "sla_breached", filters, clock=g.key)),
            ],
            figure=fmt(g.compliance_pct, " %"),
        )
        for g in r.sla.by_metric
    ]
    chart = charts.stacked_bars("SLA cycles met and breached per metric", stacks)
    header = '<tr><th></th><th class="num">met</th><th class="num">breached</th><th class="num">compliance</th></tr>'
    tables = "".join(
        f'<table><caption class="muted">By {name}</caption>{header}{_compliance_rows(groups)}</table>'
        for name, groups in (("department", r.sla.by_department), ("segment", r.sla.by_segment))
        if groups
    )
    return _card("SLA compliance by metric", chart + tables, ident="sla")


def _satisfaction(r: Report) -> str:
    nps = charts.stacked_bars(
        "NPS answers",
        [
            charts.Stack(
                "NPS answers",
                [
                    charts.Part("promoters", r.nps.promoters, GREEN),
                    charts.Part("passives", r.nps.passives, GREY),
                    charts.Part("detractors", r.nps.detractors, RED),
                ],
                figure=f"NPS {fmt(r.nps.score)}",
            )
        ],
    )
    d = r.dimensions
    dims = "".join(
        f'<tr><td>{name}</td><td class="num">{fmt(value)}</td></tr>'
        for name, value in (
            ("quality", d.quality),
            ("response speed", d.response_speed),
            ("resolution", d.resolution),
            ("care", d.care),
            ("overall", d.overall),
        )
    )
    table = (
        f'<table><caption class="muted">Relationship survey, 1–10 ({d.responses} answers)</caption>'
        f'<tr><th>dimension</th><th class="num">average</th></tr>{dims}</table>'
        if d.responses
        else '<p class="muted">No relationship-survey answers in this period.</p>'
    )
    counts = (
        f'<p class="muted">Promoters {r.nps.promoters} · passives {r.nps.passives} · detractors {r.nps.detractors}; '
        f"CSAT {fmt(r.csat.average)} from {r.csat.responses} answers</p>"
    )
    return _card("Net Promoter split", nps + counts + table, ident="nps")


def _priorities(r: Report, filters: Filters) -> str:
    points = [
        charts.MatrixPoint(
            p.rank,
            p.category,
            p.impact,
            p.difficulty,
            p.quadrant,
            tickets_link(r.period, "tickets_opened", filters, category=p.category),
            PAIN_COLOURS.get(p.pain_class, GREY),
        )
        for p in r.priorities
    ]
    rows = "".join(
        f'<tr><td class="num">{p.rank}</td>'
        f'<td><a href="{esc(tickets_link(r.period, "tickets_opened", filters, category=p.category))}">'
        f"{esc(p.category)}</a></td><td>{esc(charts.QUADRANT_TITLES.get(p.quadrant, p.quadrant))}</td>"
        f'<td>{esc(p.pain_class)}</td><td class="num">{p.impact:.2f}</td><td class="num">{p.difficulty:.2f}</td>'
        f'<td class="num">{p.tickets}</td><td class="num">{p.customers}</td><td class="num">{fmt(p.revenue)}</td>'
        f'<td class="num">{fmt(p.handling_minutes)}</td><td class="num">{fmt(p.reopen_rate_pct, " %")}</td></tr>'
        for p in r.priorities
    )
    table = (
        '<table><caption class="muted">Quick wins first: high impact, low difficulty</caption>'
        '<tr><th class="num">#</th><th>category</th><th>quadrant</th><th>class</th><th class="num">impact</th>'
        '<th class="num">difficulty</th><th class="num">tickets</th><th class="num">customers</th>'
        '<th class="num">revenue</th><th class="num">handling min</th><th class="num">reopened</th></tr>'
        f"{rows}</table>"
    )
    chart = charts.matrix("Impact × difficulty of each problem type", points)
    return _card(
        "Priorities: impact × difficulty",
        f'<div class="side">{chart}<div class="grow">{table}</div></div>',
        wide=True,
        ident="priorities",
    )


def _local(instant: datetime | None, zone: tzinfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M") if instant is not None else "–"


def _items(items: Sequence[ItemOut], zone: tzinfo) -> str:
    if not items:
        return _card("Open rectification items", '<p class="muted">None open.</p>', ident="rectifications")
    rows = "".join(
        f'<tr><td><a href="{HOME}/rectifications/{esc(i.id)}">{esc(i.title)}</a></td><td>{esc(i.category)}</td>'
        f"<td>{esc(i.pain_class)}</td><td>{esc(i.status.value)}</td><td>{esc(i.owner_department or '–')}</td>"
        f"<td>{esc(i.streak_started or '–')}</td><td>{_local(i.due_at, zone)}</td></tr>"
        for i in items
    )
    table = (
        "<table><tr><th>item</th><th>category</th><th>class</th><th>status</th><th>owner</th>"
        f"<th>hot since</th><th>due</th></tr>{rows}</table>"
    )
    return _card("Open rectification items", table, wide=True, ident="rectifications")


def _goals(r: Report, filters: Filters) -> str:
    def current(goal: str, value: float | None) -> str:
        metric = GOAL_METRICS.get(goal)
        text = esc(fmt(value))
        return (
            f'<a href="{esc(tickets_link(r.period, metric, filters))}">{text}</a>'
            if metric and value is not None
            else text
        )

    def verdict(met: bool | None) -> str:
        if met is None:
            return '<span class="muted">–</span>'
        return '<span class="met">✓ met</span>' if met else '<span class="missed">✗ not yet</span>'

    rows = "".join(
        f"<tr><td>{esc(g.goal.replace('_', ' '))}</td><td>{esc(g.target)}</td>"
        f'<td class="num">{current(g.goal, g.current)}</td>'
        f'<td class="num">{esc(fmt(g.previous))}</td><td>{esc(g.unit)}</td><td>{verdict(g.met)}</td>'
        f'<td class="muted">{esc(g.note or "")}</td></tr>'
        for g in r.headline
    )
    table = (
        '<table><tr><th>goal</th><th>target</th><th class="num">current</th><th class="num">previous</th>'
        f"<th>unit</th><th>status</th><th></th></tr>{rows}</table>"
    )
    return _card("Headline goals", table, wide=True, ident="goals")


def _segments(r: Report) -> str:
    rows = "".join(
        f'<tr><td>{esc(s.segment)}</td><td class="num">{s.customers}</td><td class="num">{s.previous}</td>'
        f'<td class="num">{s.change:+d}</td></tr>'
        for s in r.segments
    )
    table = (
        '<table><tr><th>segment</th><th class="num">customers</th><th class="num">before</th>'
        f'<th class="num">change</th></tr>{rows}</table>'
    )
    return _card("Customers per segment", table, ident="segments")


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
    heading = (
        f"<h1>{kind} {esc(r.period)}</h1>"
        f'<p class="muted">{_local(r.starts_at, zone)} to {_local(r.ends_at, zone)} (exclusive) · '
        f"{esc(_describe_filters(filters))}</p>"
    )
    main = (
        heading
        + _periods(period, filters, zone)
        + _filter_form(r, filters, categories)
        + _tiles(r, filters)
        + '<div class="grid">'
        + _trends(view, filters)
        + _categories(r, filters)
        + _sla(r, filters)
        + _satisfaction(r)
        + _priorities(r, filters)
        + _items(view.open_items, zone)
        + _segments(r)
        + _goals(r, filters)
        + "</div>"
    )
    return layout(f"{kind} {r.period}", main, staff=staff)


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
    metric = BY_NAME.get(page.metric)
    title = metric.title if metric else SLA_TITLES.get(page.metric, page.metric)
    scope = _describe_filters(filters) + (f", SLA metric {clock}" if clock else "")
    rows = "".join(
        f"<tr><td>{esc(t.number or t.ticket_id)}</td><td>{_local(t.created_at, zone)}</td>"
        f"<td>{esc(t.channel or '–')}</td><td>{esc(t.category or '–')}</td><td>{esc(t.urgency or '–')}</td>"
        f"<td>{esc(t.segment or '–')}</td>"
        f"<td>{esc(t.department_id or '–')}</td><td>{esc(t.agent_id or '–')}</td>"
        f"<td>{_local(t.first_response_at, zone)}</td><td>{_local(t.resolved_at, zone)}</td>"
        f'<td class="num">{t.reopens}</td><td class="num">{t.agent_replies}</td>'
        f'<td class="num">{esc(t.csat if t.csat is not None else "–")}</td></tr>'
        for t in page.items
    )
    table = (
        '<table id="tickets"><tr><th>number</th><th>created</th><th>channel</th><th>category</th><th>urgency</th>'
        "<th>segment</th><th>department</th><th>agent</th><th>first response</th><th>resolved</th>"
        f'<th class="num">reopens</th><th class="num">replies</th><th class="num">CSAT</th></tr>{rows}</table>'
        if page.items
        else '<p class="muted">No tickets.</p>'
    )
    more = f'<p><a href="{esc(next_url)}" rel="next">Next page →</a></p>' if next_url else ""
    definition = f'<p class="muted">{esc(metric.definition)}</p>' if metric else ""
    main = (
        f"<h1>{esc(title)} · {esc(page.period)}</h1>{definition}"
        f'<p class="muted">{esc(scope)} · {len(page.items)} on this page</p>'
        f'<p><a href="{esc(dashboard_link(page.period, filters))}">← Back to the dashboard</a> · '
        f'<a href="{esc(csv_link(page.period, page.metric, filters, clock=clock))}" download>All as CSV</a></p>'
        f'<div class="card">{table}</div>{more}'
    )
    return layout(f"{title} {page.period}", main, staff=staff)


def rectification_page(item: ItemOut, *, zone: tzinfo, staff: Principal) -> str:
    """One rectification item: why it opened, who owns it, and whether its category cooled."""
    evidence = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row.values()) + "</tr>" for row in item.evidence)
    evidence_head = "".join(f"<th>{esc(k)}</th>" for k in (item.evidence[0] if item.evidence else {}))
    weeks = "".join(
        f'<tr><td>{esc(w.week)}</td><td class="num">{w.tickets}</td><td class="num">{w.total}</td>'
        f'<td class="num">{fmt(w.share_pct)} %</td><td>{"hot" if w.hot else "cool"}</td></tr>'
        for w in item.since_opened or []
    )
    cooled = {True: "yes", False: "no", None: "not yet known"}[item.cooled]
    facts = "".join(
        f"<tr><th>{esc(name)}</th><td>{esc(value)}</td></tr>"
        for name, value in (
            ("category", item.category),
            ("pain class", item.pain_class),
            ("status", item.status.value),
            ("owner department", item.owner_department or "–"),
            ("threshold", item.threshold),
            ("hot since", item.streak_started or "–"),
            ("last hot week", item.last_hot_week or "–"),
            ("opened", f"{_local(item.opened_at, zone)} by {item.opened_by}"),
            ("due", _local(item.due_at, zone)),
            ("closed", _local(item.closed_at, zone)),
            ("cooled", cooled),
            ("notes", item.notes or "–"),
        )
    )
    main = (
        f"<h1>{esc(item.title)}</h1>"
        f'<p><a href="{HOME}">← Back to the dashboard</a></p>'
        f'<div class="grid"><section class="card"><h2>Item</h2><table>{facts}</table></section>'
        f'<section class="card"><h2>Evidence</h2><table><tr>{evidence_head}</tr>{evidence}</table></section>'
        '<section class="card"><h2>Weeks since the streak began</h2><table><tr><th>week</th><th class="num">tickets'
        '</th><th class="num">of</th><th class="num">share</th><th></th></tr>'
        f"{weeks}</table></section></div>"
        f'<p class="muted">Supervisors work items through <code>PATCH /v1/rectifications/{esc(item.id)}</code>.</p>'
    )
    return layout(item.title, main, staff=staff)
