"""HTTP: the review as HTML pages for staff in a browser, signed in with the same tokens as the API.

A browser cannot send a bearer header when it follows a link, so the login form takes a token,
checks it with the API's own verifier (signature, expiry, revocation, the failed-credentials
limit, staff role), and keeps it in an HttpOnly, SameSite=Strict cookie scoped to `/dashboard`.
Pages take that cookie (or a bearer header) and send anyone without a valid staff token to the
login page with a 303. These routes are pages, not API: they are left out of the OpenAPI document.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from ticketloop_retrospective.dashboard import pages, service
from ticketloop_retrospective.dashboard.domain import (
    COOKIE,
    COOKIE_PATH,
    HOME,
    LOGIN,
    PAGE_HEADERS,
    safe_return,
    tickets_link,
)
from ticketloop_retrospective.rectification import service as rectification
from ticketloop_retrospective.rectification.domain import ItemNotFound
from ticketloop_retrospective.reports import service as reports
from ticketloop_retrospective.reports.domain import Filters, Period, ReportWeek, parse_period
from ticketloop_retrospective.reports.schemas import ticket_rows
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import SettingsDep
from ticketloop_shared import csrf
from ticketloop_shared.api import RuntimeDep, SessionDep, csv_response
from ticketloop_shared.auth import (
    Principal,
    Role,
    check_department,
    department_scope,
    principal_of,
    staff_only,
)
from ticketloop_shared.errors import DomainError, Forbidden, Unauthorized
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix=HOME, include_in_schema=False)

Name = Annotated[str | None, Query(max_length=100), STORABLE]
PAGE_SIZE = 50
REASONS = {
    "invalid_token": "That token is not valid; check it was copied whole.",
    "token_expired": "That token has expired; get a new one.",
    "token_revoked": "That token has been revoked; get a new one.",
}


def html(body: str, status: int = 200) -> HTMLResponse:
    """A page with the dashboard's browser policy (CSP, no sniffing, no caching)."""
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _https(request: Request) -> bool:
    # Behind the compose entry point TLS ends at the proxy, which says so in X-Forwarded-Proto;
    # trusting it can only make the cookie stricter.
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def _presented_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else None
    return request.cookies.get(COOKIE) or None


def verified_staff(request: Request, token: str) -> Principal:
    """The staff member a token belongs to, by exactly the checks the API makes; `Unauthorized`
    or `Forbidden` (a notifier's token) otherwise."""
    principal = principal_of(request, Response(), HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    return staff_only(principal)


class SignedIn(Principal):
    """The signed-in staff member with the CSRF token the page's forms carry (sign-out)."""

    csrf: str


def _csrf_key(request: Request) -> bytes:
    return csrf.csrf_key(request.app.state.auth_secret, "dashboard")


async def signed_in(request: Request) -> SignedIn | None:
    """Dependency: the signed-in staff member, or None (the page then redirects to the login)."""
    token = _presented_token(request)
    if not token:
        return None
    try:
        principal = verified_staff(request, token)
    except (Unauthorized, Forbidden):
        return None
    return SignedIn(**principal.model_dump(), csrf=csrf.csrf_token(_csrf_key(request), principal.jti))


Staff = Annotated[SignedIn | None, Depends(signed_in)]


def to_login(request: Request) -> RedirectResponse:
    """303 to the login page, coming back here afterwards; a stale cookie is dropped."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{LOGIN}?next={quote(here, safe='')}", status_code=303, headers=PAGE_HEADERS)
    if COOKIE in request.cookies:
        _forget(response, request)
    return response


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=_https(request), httponly=True, samesite="strict")


async def dashboard_filters(
    channel: Name = None, category: Name = None, department: Name = None, segment: Name = None
) -> Filters:
    """Dependency: the filters of the GET form; a field left blank means any."""

    def given(value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    return Filters(
        channel=given(channel), category=given(category), department=given(department), segment=given(segment)
    )


FiltersDep = Annotated[Filters, Depends(dashboard_filters)]


def scoped(staff: Principal, filters: Filters) -> Filters:
    """The filters with an agent's or supervisor's department forced to its own (`Forbidden`
    when it asked for another), as the API scopes its reports."""
    return replace(filters, department=department_scope(staff, filters.department))


def _refused(exc: Forbidden, staff: Principal) -> HTMLResponse:
    return html(pages.error_page("Not your department", exc.message, staff=staff), exc.status_code)


@router.get("/login")
async def login_form(next: Annotated[str | None, Query(max_length=2000), STORABLE] = None) -> HTMLResponse:
    """The sign-in form."""
    return html(pages.login_page(next_url=safe_return(next)))


@router.post("/login")
async def login(request: Request) -> Response:
    """Check a pasted token as the API would and keep it in the dashboard's cookie."""
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("host")):
        return html(pages.login_page(message="Sign in from the dashboard's own login page."), 403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    token = (form.get("token") or [""])[0].strip()
    next_url = safe_return((form.get("next") or [""])[0])
    if not token:
        return html(pages.login_page(message="Paste a staff token to sign in.", next_url=next_url), 400)
    try:
        principal = verified_staff(request, token)
    except Unauthorized as exc:
        message = REASONS.get(exc.code, exc.message)
        return html(pages.login_page(message=message, next_url=next_url), 401)
    except Forbidden as exc:
        message = (
            "A notifier token cannot open the review; use an agent, supervisor or admin token."
            if exc.code == "staff_required"
            else exc.message
        )
        return html(pages.login_page(message=message, next_url=next_url), 403)
    response = RedirectResponse(next_url, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        expires=datetime.fromtimestamp(principal.exp, UTC),
        path=COOKIE_PATH,
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, staff: Staff) -> Response:
    """Forget the token (the token itself stays valid until it expires or is revoked): only for
    a form posted from this site (`Origin`) carrying the session's CSRF token, so another site
    cannot sign a supervisor out. Without a valid session there is nothing to guard."""
    refused = html(pages.error_page("Not signed out", "Sign out with the dashboard's own button.", staff=staff), 403)
    if not csrf.same_origin(request.headers.get("origin"), request.headers.get("host")):
        return refused
    if staff is not None:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        if not csrf.csrf_valid(_csrf_key(request), staff.jti, (form.get(csrf.FIELD) or [""])[0]):
            return refused
    response = RedirectResponse(LOGIN, status_code=303, headers=PAGE_HEADERS)
    _forget(response, request)
    return response


def _period(settings: RetrospectiveSettings, runtime: Runtime[Any], value: str | None) -> Period:
    zone = settings.report_zone
    if not value:
        return ReportWeek.containing(runtime.clock.now(), zone)
    return parse_period(value.strip(), zone)


@router.get("")
async def dashboard(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: Staff,
    filters: FiltersDep,
    period: Annotated[str | None, Query(max_length=10), STORABLE] = None,
) -> Response:
    """The weekly (`2026-W48`) or monthly (`2026-11`) review, this week by default; an agent's or
    supervisor's of its own department only."""
    if staff is None:
        return to_login(request)
    try:
        filters = scoped(staff, filters)
    except Forbidden as exc:
        return _refused(exc, staff)
    try:
        window = _period(settings, runtime, period)
    except DomainError as exc:
        return html(pages.error_page("No such period", exc.message, staff=staff), exc.status_code)
    view = await service.dashboard(
        runtime.sessions,
        session,
        period=window,
        filters=filters,
        settings=settings,
        now=runtime.clock.now(),
        department=department_scope(staff),
        segment_goals=staff.role is Role.ADMIN,
    )
    return html(
        pages.dashboard_page(
            view,
            period=window,
            filters=filters,
            zone=settings.report_zone,
            categories=sorted(settings.pain_classes),
            staff=staff,
        )
    )


TicketQuery = Annotated[str, Query(max_length=40), STORABLE]


@router.get("/tickets")
async def tickets(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: Staff,
    filters: FiltersDep,
    metric: TicketQuery,
    period: Annotated[str | None, Query(max_length=10), STORABLE] = None,
    clock: Annotated[str | None, Query(max_length=30), STORABLE] = None,
    after: Annotated[str | None, Query(max_length=40), STORABLE] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> Response:
    """The tickets behind one figure, a page at a time (`PAGE_SIZE` unless told); an agent's or
    supervisor's department's only."""
    if staff is None:
        return to_login(request)
    try:
        filters = scoped(staff, filters)
    except Forbidden as exc:
        return _refused(exc, staff)
    try:
        start = uuid.UUID(after) if after else None
    except ValueError:
        return html(pages.error_page("Nothing to list", f"{after!r} is not a ticket id", staff=staff), 422)
    try:
        window = _period(settings, runtime, period)
        page = await reports.tickets(
            session, period=window, metric=metric, filters=filters, clock=clock or None, limit=limit, after=start
        )
    except DomainError as exc:
        return html(pages.error_page("Nothing to list", exc.message, staff=staff), exc.status_code)
    next_url = (
        f"{tickets_link(window.label, metric, filters, clock=clock or None)}&after={page.next_after}"
        + (f"&limit={limit}" if limit != PAGE_SIZE else "")
        if page.next_after
        else None
    )
    return html(
        pages.tickets_page(
            page, filters=filters, clock=clock or None, zone=settings.report_zone, next_url=next_url, staff=staff
        )
    )


@router.get("/tickets.csv")
async def tickets_csv(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: Staff,
    filters: FiltersDep,
    metric: TicketQuery,
    period: Annotated[str | None, Query(max_length=10), STORABLE] = None,
    clock: Annotated[str | None, Query(max_length=30), STORABLE] = None,
) -> Response:
    """Every ticket behind one figure as CSV: `/v1/reports/tickets?format=csv` for the cookie
    (scoped the same way)."""
    if staff is None:
        return to_login(request)
    try:
        filters = scoped(staff, filters)
    except Forbidden as exc:
        return _refused(exc, staff)
    try:
        window = _period(settings, runtime, period)
        rows = await reports.all_tickets(session, period=window, metric=metric, filters=filters, clock=clock or None)
    except DomainError as exc:
        return html(pages.error_page("Nothing to list", exc.message, staff=staff), exc.status_code)
    response = csv_response(ticket_rows(rows), f"tickets-{metric}-{window.label}.csv")
    response.headers.update({k: v for k, v in PAGE_HEADERS.items() if k != "Content-Security-Policy"})
    return response


@router.get("/rectifications/{item_id}")
async def rectification_item(
    request: Request, item_id: str, session: SessionDep, runtime: RuntimeDep, settings: SettingsDep, staff: Staff
) -> Response:
    """One rectification item with its evidence and the weeks since."""
    if staff is None:
        return to_login(request)
    try:
        wanted = uuid.UUID(item_id)
    except ValueError:
        return html(pages.error_page("No such item", f"{item_id!r} is not an item id", staff=staff), 404)
    try:
        item = await rectification.view(session, item_id=wanted, settings=settings, now=runtime.clock.now())
    except ItemNotFound:
        return html(pages.error_page("No such item", f"no rectification item {item_id}", staff=staff), 404)
    try:
        check_department(staff, item.owner_department, what="item", unowned="not_your_department")
    except Forbidden as exc:
        return _refused(exc, staff)
    return html(pages.rectification_page(item, zone=settings.report_zone, staff=staff))
