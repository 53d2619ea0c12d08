"""The dashboard's rules, kept pure: where each figure drills to, which periods sit around the
one shown, which return addresses after login are safe, and the browser policy of its pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from urllib.parse import urlencode, urlsplit

from ticketloop_retrospective.reports.domain import Filters, Period, ReportMonth, ReportWeek

# The staff token rides in this cookie, sent back only to the dashboard's own pages: the JSON
# API keeps taking bearer headers alone, so no cross-site request can use it on a staff's behalf.
COOKIE = "ticketloop_staff"
COOKIE_PATH = "/dashboard"
HOME = "/dashboard"
LOGIN = "/dashboard/login"
TRENDS = 8  # periods on each trend line, the shown one last

# Pages draw with inline SVG and one inline stylesheet; nothing else may load, run, frame them
# or receive their forms.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Figures about customers: never kept in a shared cache or the browser's back-forward store.
    "Cache-Control": "no-store",
}


def _query(params: Mapping[str, str | None]) -> str:
    return urlencode({k: v for k, v in params.items() if v is not None})


def filter_params(filters: Filters) -> dict[str, str | None]:
    """The filters as query parameters (unset ones left out)."""
    return {
        "channel": filters.channel,
        "category": filters.category,
        "department": filters.department,
        "segment": filters.segment,
    }


def dashboard_link(period: str, filters: Filters) -> str:
    """The dashboard of `period` cut by `filters`."""
    return f"{HOME}?{_query({'period': period, **filter_params(filters)})}"


def tickets_link(
    period: str, metric: str, filters: Filters, *, clock: str | None = None, category: str | None = None
) -> str:
    """The page listing the tickets behind one figure; `category` narrows the filters to one
    problem type (a category bar), `clock` to one SLA metric (an SLA bar)."""
    params = {"period": period, "metric": metric, **filter_params(filters), "clock": clock}
    if category is not None:
        params["category"] = category
    return f"{HOME}/tickets?{_query(params)}"


def csv_link(period: str, metric: str, filters: Filters, *, clock: str | None = None) -> str:
    """The same tickets as a CSV download (authenticated by the dashboard's cookie)."""
    params = {"period": period, "metric": metric, **filter_params(filters), "clock": clock}
    return f"{HOME}/tickets.csv?{_query(params)}"


def following(period: Period, zone: tzinfo) -> Period:
    """The period after this one (its end is the next one's start)."""
    if isinstance(period, ReportWeek):
        return ReportWeek.containing(period.ends_at, zone)
    return ReportMonth.containing(period.ends_at, zone)


def switched(period: Period, zone: tzinfo) -> Period:
    """The month a week starts in, or the week a month starts in: the other view of the same time."""
    if isinstance(period, ReportWeek):
        return ReportMonth.containing(period.starts_at, zone)
    return ReportWeek.containing(period.starts_at, zone)


def safe_return(target: str | None) -> str:
    """Where to go after login: a dashboard page of this site, never another site (`//host`,
    `https://…`) nor anything outside the dashboard, whatever the form was given."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not (parts.path == HOME or parts.path.startswith(HOME + "/")):
        return HOME
    if parts.path.startswith(LOGIN):
        return HOME
    return target
