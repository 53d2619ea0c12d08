"""HTTP: the workspace's pages, fragments and form posts.

Every read and every action is a call to a service's public API with the signed-in person's own
token (`upstream.Upstreams`); nothing is stored here. Forms post and redirect back (303, so a
reload never repeats an action); a refused step re-renders the page with the API's reason and the
person's draft. Every post carries the session's CSRF token and must come from this site (Origin).
These routes are pages, not API: they are left out of any OpenAPI document."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.formparsers import MultiPartException, MultiPartParser

from ticketloop_shared.csrf import csrf_valid, same_origin
from ticketloop_shared.errors import Unauthorized
from ticketloop_workspace import pages
from ticketloop_workspace.domain import (
    CARE_OUTCOMES,
    COOKIE,
    COOKIE_PATH,
    CSRF_FIELD,
    HOME,
    OWNER_ACTIONS,
    PAGE_HEADERS,
    Action,
    AttachmentLimits,
    allowed_actions,
    check_files,
    clock_rows,
    is_care_task,
    looks_like_number,
    overdue,
    overdue_waits,
    page_window,
    resolve_body,
    safe_return,
)
from ticketloop_workspace.session import (
    Session,
    SessionDep,
    forget,
    https,
    settings_of,
    verify_staff_token,
)
from ticketloop_workspace.upstream import Refused, SignedOut, Unavailable, Upstreams

router = APIRouter(prefix=HOME, include_in_schema=False)

MAX_FORM_BYTES = 64_000
SIGN_IN_REASONS = {
    "invalid_token": "That token is not valid; check it was copied whole.",
    "token_expired": "That token has expired; get a new one.",
    "token_revoked": "That token has been revoked; get a new one.",
    "staff_required": "A notifier token cannot open the workspace; use an agent, supervisor or admin token.",
    "session_ended": "Your session ended (the token expired or was revoked): sign in again.",
}
DONE = {
    "reply": "Reply sent.",
    "note": "Internal note added.",
    "plan": "Plan committed.",
    "update": "Progress update sent.",
    "wait": "Question sent: the ticket now waits on the customer.",
    "resolve": "Ticket resolved.",
    "follow_up": "Follow-up recorded.",
    "recategorise": "Category changed.",
    "change_urgency": "Urgency changed.",
    "take": "Ticket taken: it is yours now.",
    "take_available": "You are available again, and the ticket is yours.",
    "connected": "Connected: the live-access clock is met.",
    "presence": "Presence saved.",
    "assign": "Ticket assigned.",
    "transfer": "Ticket transferred.",
    "care_completed": "Care contact completed.",
}
# Intake's reasons for refusing a message's files (attachments/domain.py), and this page's own.
ATTACHMENT_CODES = frozenset(
    {
        "too_many_attachments",
        "attachment_too_large",
        "attachments_too_large",
        "attachment_type_not_allowed",
        "invalid_filename",
        "invalid_base64",
        "empty_attachment",
    }
)
Offset = Annotated[int, Query(ge=0, le=100_000)]


def upstreams(request: Request) -> Upstreams:
    """The shared clients of the services behind the workspace."""
    ups: Upstreams = request.app.state.upstreams
    return ups


async def upstreams_dependency(request: Request) -> Upstreams:
    """Dependency: `upstreams`, on the event loop (a plain `def` dependency takes a thread hop)."""
    return upstreams(request)


UpstreamsDep = Annotated[Upstreams, Depends(upstreams_dependency)]


class FormRefused(Exception):
    """A post without this session's CSRF token, or from another site: refused with 403."""


@dataclass(frozen=True)
class Upload:
    """A file chosen in a form: its name as the browser gave it, and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Form:
    """A posted form: its text fields (the first value of each) and its files."""

    fields: dict[str, str]
    files: list[Upload] = field(default_factory=list)


class FormTooLarge(FormRefused):
    """A form body beyond what the workspace reads (413)."""


async def _capped(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with `FormTooLarge` as soon as it passes `limit` bytes (checked
    on the declared length first, then on what actually arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FormTooLarge("the form is too large")
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise FormTooLarge("the form is too large")
        yield chunk


async def read_form(request: Request, *, limits: AttachmentLimits | None = None) -> Form:
    """A posted form: urlencoded (at most `MAX_FORM_BYTES`), or multipart when `limits` allows
    files (at most `limits.form_bytes`; file inputs left empty are dropped). A multipart post
    where no files are taken is refused."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        if limits is None:
            raise FormRefused("this form takes no files")
        parser = MultiPartParser(
            request.headers,
            _capped(request, limits.form_bytes),
            max_files=limits.max_count + 1,
            max_fields=50,
            max_part_size=MAX_FORM_BYTES,
        )
        try:
            data = await parser.parse()
        except MultiPartException as exc:
            raise FormRefused(f"the form could not be read ({exc.message})") from exc
        fields: dict[str, str] = {}
        files: list[Upload] = []
        try:
            for name, value in data.multi_items():
                if isinstance(value, str):
                    fields.setdefault(name, value)
                elif value.filename:
                    files.append(Upload(value.filename, await value.read()))
        finally:
            await data.close()
        return Form(fields, files)
    body = b"".join([chunk async for chunk in _capped(request, MAX_FORM_BYTES)])
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
    return Form({k: v[0] for k, v in parsed.items()})


async def checked_form(request: Request, session: Session, *, limits: AttachmentLimits | None = None) -> Form:
    """The form of a post made from this site (Origin) in this session (CSRF token), files
    included when `limits` allows them; `FormRefused` otherwise."""
    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        raise FormRefused("the form was not sent from the workspace")
    form = await read_form(request, limits=limits)
    if not csrf_valid(request.app.state.csrf_key, session.principal.jti, form.fields.get(CSRF_FIELD)):
        raise FormRefused("the form's security token is missing or stale; reload the page and try again")
    return form


def back_to(path: str, done: str | None = None) -> RedirectResponse:
    """303 to a workspace page after a post (post, redirect, get)."""
    target = path + (f"?{urlencode({'done': done})}" if done else "")
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


def problem(exc: Refused | Unavailable, title: str = "The step was refused") -> dict[str, str]:
    """What a page shows about a refused or failed call."""
    if isinstance(exc, Unavailable):
        return {
            "title": "Service unavailable",
            "message": f"The {exc.service} service is unavailable ({exc.detail}); try again in a moment.",
            "code": "",
        }
    return {"title": title, "message": exc.message, "code": exc.code}


def error_page(session: Session | None, exc: Refused | Unavailable, *, back: str = HOME) -> HTMLResponse:
    """A page that could not be built: the API's reason, or which service is unavailable."""
    status = 503 if isinstance(exc, Unavailable) else exc.status
    title = "Service unavailable" if isinstance(exc, Unavailable) else "Not possible"
    return pages.render("error.html", title=title, session=session, status=status, error=problem(exc, title), back=back)


# --- sign-in ---------------------------------------------------------------------------------


@router.get("/login")
async def login_form(
    next: Annotated[str | None, Query(max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    """The sign-in form (a known reason code says why the person is here again)."""
    message = SIGN_IN_REASONS.get(reason or "")
    return pages.render("login.html", title="Sign in", session=None, message=message, next_url=safe_return(next))


async def confirm_with_services(ups: Upstreams, token: str) -> None:
    """Ask the services whether they accept the token (revocation, department): routing's
    `/v1/me`, or intake's ticket list where routing does not have it yet."""
    try:
        await ups.get("routing", "/v1/me", token=token)
    except Refused as exc:
        if exc.status not in (404, 405):
            raise
        await ups.get("intake", "/v1/tickets", token=token, params={"limit": 1})


@router.post("/login")
async def login(request: Request, ups: UpstreamsDep) -> Response:
    """Check a pasted token (locally, then with the services) and keep it in the workspace's cookie."""

    def again(message: str, status: int, next_url: str = HOME) -> HTMLResponse:
        return pages.render(
            "login.html", title="Sign in", session=None, status=status, message=message, next_url=next_url
        )

    if not same_origin(request.headers.get("origin"), request.headers.get("host")):
        return again("Sign in from the workspace's own sign-in page.", 403)
    try:
        form = (await read_form(request)).fields
    except FormRefused as exc:
        return again(str(exc), 413)
    token = form.get("token", "").strip()
    next_url = safe_return(form.get("next"))
    if not token:
        return again("Paste a staff token to sign in.", 400, next_url)
    try:
        principal = verify_staff_token(settings_of(request), token)
    except Unauthorized as exc:
        return again(SIGN_IN_REASONS.get(exc.code, exc.message), 403 if exc.code == "staff_required" else 401, next_url)
    try:
        await confirm_with_services(ups, token)
    except SignedOut as exc:
        return again(SIGN_IN_REASONS.get(exc.code, exc.message), 401, next_url)
    except Refused as exc:
        return again(f"The services refused this token: {exc.message}", exc.status, next_url)
    except Unavailable as exc:
        return again(f"Cannot check the token now: the {exc.service} service is unavailable.", 503, next_url)
    response = RedirectResponse(next_url, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        expires=datetime.fromtimestamp(principal.exp, UTC),
        path=COOKIE_PATH,
        secure=https(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> Response:
    """Forget the token (it stays valid until it expires or is revoked)."""
    await checked_form(request, session)
    response = RedirectResponse(f"{HOME}/login", status_code=303, headers=PAGE_HEADERS)
    forget(response, request)
    return response


# --- My work ---------------------------------------------------------------------------------


async def my_work_context(request: Request, session: Session, offset: int) -> dict[str, Any]:
    """The person's tickets, by what matters (intake's `sort=priority`), one page."""
    limit = settings_of(request).page_size
    page = await upstreams(request).get(
        "intake",
        "/v1/tickets",
        token=session.token,
        params={"assignee_id": session.principal.sub, "sort": "priority", "limit": limit, "offset": offset},
    )
    previous, following = page_window(page["offset"], page["limit"], page["total"])
    return {"page": page, "previous": previous, "following": following, "offset": offset}


@router.get("")
async def my_work(request: Request, session: SessionDep, offset: Offset = 0) -> Response:
    """My work: the tickets assigned to me."""
    try:
        context = await my_work_context(request, session, offset)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    return pages.render("my_work.html", title="My work", session=session, current="my-work", error=None, **context)


@router.get("/fragments/my-work")
async def my_work_fragment(request: Request, session: SessionDep, offset: Offset = 0) -> Response:
    """My work's region, for live updates."""
    try:
        context = await my_work_context(request, session, offset)
    except (Refused, Unavailable) as exc:
        return pages.render("error.html", title="", session=session, status=503, error=problem(exc), back=HOME)
    return pages.render("_my_work.html", title="", session=session, **context)


# --- Care tasks ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _when(item: dict[str, Any]) -> datetime | None:
    """A listed or read ticket's care due date, as an instant."""
    value = item.get("due_at")
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def care_context(request: Request, session: Session, offset: int) -> dict[str, Any]:
    """The person's care tasks (care tickets they own), the earliest due first and the completed
    ones after them (their due instant no longer orders them), one page."""
    limit = settings_of(request).page_size
    page = await upstreams(request).get(
        "intake",
        "/v1/tickets",
        token=session.token,
        params={
            "assignee_id": session.principal.sub,
            "origin": "care",
            "sort": "due",
            "limit": limit,
            "offset": offset,
        },
    )
    now = _now()
    for item in page["items"]:
        item["open"] = item["status"] not in ("resolved", "closed")
        item["overdue"] = item["open"] and overdue(_when(item), now)
    previous, following = page_window(page["offset"], page["limit"], page["total"])
    return {
        "page": page,
        "previous": previous,
        "following": following,
        "offset": offset,
        "care_outcomes": CARE_OUTCOMES,
        "idempotency_key": uuid.uuid4().hex,
    }


@router.get("/care")
async def care_tasks(
    request: Request,
    session: SessionDep,
    offset: Offset = 0,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """My care tasks: each contact's due date, and a form to complete it with its outcome."""
    try:
        context = await care_context(request, session, offset)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    return pages.render(
        "care.html",
        title="Care tasks",
        session=session,
        current="care",
        error=None,
        done=DONE.get(done or ""),
        **context,
    )


@router.post("/care/{ticket_id}/complete")
async def complete_care_task(
    request: Request, ticket_id: uuid.UUID, session: SessionDep, ups: UpstreamsDep
) -> Response:
    """Complete a care task with its outcome (intake's resolve); back to the list, or the list
    with intake's reason (an outcome is required on a care ticket)."""
    form = (await checked_form(request, session)).fields
    key = form.get("idempotency_key") or None
    try:
        await ups.post(
            "intake",
            f"/v1/tickets/{ticket_id}/resolve",
            token=session.token,
            json=resolve_body(form),
            headers={"Idempotency-Key": key} if key else None,
        )
    except (Refused, Unavailable) as exc:
        try:
            context = await care_context(request, session, 0)
        except (Refused, Unavailable):
            return error_page(session, exc, back=f"{HOME}/care")
        page = pages.render(
            "care.html",
            title="Care tasks",
            session=session,
            current="care",
            status=503 if isinstance(exc, Unavailable) else exc.status,
            error=problem(exc, "The care task was not completed"),
            done=None,
            **context,
        )
        return page
    return back_to(f"{HOME}/care", "care_completed")


# --- Department queue ------------------------------------------------------------------------


async def queue_context(request: Request, session: Session) -> dict[str, Any]:
    """The person's department's queue (every department's for an admin)."""
    department = session.principal.department
    queues = await upstreams(request).get(
        "routing", "/v1/queues", token=session.token, params={"department_id": department, "limit": 100}
    )
    return {"queues": queues}


@router.get("/queue")
async def queue(request: Request, session: SessionDep) -> Response:
    """The department's waiting tickets with their position, score and why; take from here."""
    try:
        context = await queue_context(request, session)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    done = DONE.get(request.query_params.get("done", ""))
    return pages.render(
        "queue.html",
        title="Department queue",
        session=session,
        current="queue",
        error=None,
        done=done,
        away_ticket=None,
        **context,
    )


@router.get("/fragments/queue")
async def queue_fragment(request: Request, session: SessionDep) -> Response:
    """The queue's region, for live updates."""
    try:
        context = await queue_context(request, session)
    except (Refused, Unavailable) as exc:
        return pages.render("error.html", title="", session=session, status=503, error=problem(exc), back=HOME)
    return pages.render("_queue.html", title="", session=session, **context)


async def _queue_refused(
    request: Request, session: Session, exc: Refused | Unavailable, ticket_id: uuid.UUID
) -> Response:
    """The queue again with the reason a take failed; when routing counts the person as away
    (`agent_away`), with the one-click "Set me available and take"."""
    try:
        context = await queue_context(request, session)
    except (Refused, Unavailable):
        return error_page(session, exc, back=f"{HOME}/queue")
    status = 503 if isinstance(exc, Unavailable) else exc.status
    away = isinstance(exc, Refused) and exc.code == "agent_away"
    return pages.render(
        "queue.html",
        title="Department queue",
        session=session,
        current="queue",
        status=status,
        error=problem(exc, "The ticket could not be taken"),
        done=None,
        away_ticket=str(ticket_id) if away else None,
        **context,
    )


@router.post("/tickets/{ticket_id}/take")
async def take(request: Request, ticket_id: uuid.UUID, session: SessionDep, ups: UpstreamsDep) -> Response:
    """Take a waiting ticket (routing assigns it to me), then open it."""
    await checked_form(request, session)
    try:
        await ups.post("routing", f"/v1/tickets/{ticket_id}/take", token=session.token)
    except (Refused, Unavailable) as exc:
        return await _queue_refused(request, session, exc, ticket_id)
    return back_to(f"{HOME}/tickets/{ticket_id}", "take")


@router.post("/tickets/{ticket_id}/take-available")
async def take_when_away(request: Request, ticket_id: uuid.UUID, session: SessionDep, ups: UpstreamsDep) -> Response:
    """Set me available in routing, then take the ticket: two calls, each refusal shown as the API
    gives it (the presence stays changed if the take is then refused)."""
    await checked_form(request, session)
    try:
        await ups.put(
            "routing",
            f"/v1/agents/{quote(session.principal.sub)}/presence",
            token=session.token,
            json={"presence": "available"},
        )
        await ups.post("routing", f"/v1/tickets/{ticket_id}/take", token=session.token)
    except (Refused, Unavailable) as exc:
        return await _queue_refused(request, session, exc, ticket_id)
    return back_to(f"{HOME}/tickets/{ticket_id}", "take_available")


# --- Ticket ----------------------------------------------------------------------------------


async def _optional(call: Any, note: str) -> tuple[Any, str | None]:
    """A secondary read of a page (suggestions, canned replies): its failure is a note, not an error."""
    try:
        return await call, None
    except Refused as exc:
        return None, note if exc.status in (404, 405) else f"{note} ({exc.message})"
    except Unavailable as exc:
        return None, f"{note}: the {exc.service} service is unavailable."


async def ticket_context(
    request: Request,
    session: Session,
    ticket_id: uuid.UUID,
    *,
    drafts: dict[str, str] | None = None,
    secondary: bool = True,
) -> dict[str, Any]:
    """Everything the ticket page shows; the ticket itself must load, the rest may be missing.
    The canned replies are asked for while the ticket loads (the suggestions need its subject),
    so the page waits for two calls in a row, not three."""
    ups = upstreams(request)
    templates = (
        asyncio.ensure_future(
            _optional(ups.get("intake", "/v1/reply-templates", token=session.token), "Canned replies are not available")
        )
        if secondary
        else None
    )
    try:
        ticket = await ups.get("intake", f"/v1/tickets/{ticket_id}", token=session.token)
    except BaseException:
        if templates is not None:
            templates.cancel()
        raise
    me = session.principal
    assignee = (ticket.get("assignee") or {}).get("agent_id")
    allowed = {a.value for a in allowed_actions(ticket["status"], role=me.role.value, me=me.sub, assignee_id=assignee)}
    care = is_care_task(ticket)
    context: dict[str, Any] = {
        "ticket": ticket,
        "care_task": care,
        "care_outcomes": CARE_OUTCOMES,
        "care_overdue": care and ticket["status"] not in ("resolved", "closed") and overdue(_when(ticket), _now()),
        "clocks": clock_rows(ticket.get("sla")),
        "allowed": allowed,
        "owner_actions": {a.value for a in OWNER_ACTIONS},
        "may_act": me.role.value in ("supervisor", "admin") or assignee == me.sub,
        "drafts": dict(drafts or {}),
        "idempotency_key": uuid.uuid4().hex,
        "suggestions": [],
        "suggestions_note": None,
        "reply_templates": [],
        "templates_note": None,
        "attachment_limits": settings_of(request).attachment_limits,
        # The customer waits live and nobody is connected yet: the owner can say one now is.
        "awaiting_connection": assignee == me.sub
        and any(
            c.get("clock") == "live_access" and c.get("status") == "running"
            for c in (ticket.get("sla") or {}).get("clocks", [])
        ),
    }
    if templates is None:
        return context
    q = f"{ticket['subject']}"[:200]
    found, context["suggestions_note"] = await _optional(
        ups.get(
            "intake",
            "/v1/knowledge/search",
            token=session.token,
            params={"q": q, "category": ticket["category"], "limit": 3},
        ),
        "Knowledge base suggestions are not available",
    )
    context["suggestions"] = (found or {}).get("items", [])
    listed, context["templates_note"] = await templates
    items = listed.get("items", []) if isinstance(listed, dict) else (listed or [])
    context["reply_templates"] = items
    return context


def _ticket_page(session: Session, context: dict[str, Any], **extra: Any) -> HTMLResponse:
    ticket = context["ticket"]
    return pages.render(
        "ticket.html",
        title=f"Ticket {ticket['number']}",
        session=session,
        **{"error": None, "done": None, **extra},
        **context,
    )


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request,
    ticket_id: str,
    session: SessionDep,
    insert_article: Annotated[str | None, Query(max_length=64)] = None,
    insert_template: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """A ticket: header, clocks, timeline, suggestions, canned replies and every action; "insert"
    re-renders it with the reply box prefilled."""
    try:
        wanted = uuid.UUID(ticket_id)
    except ValueError:
        return error_page(session, Refused("intake", 404, "ticket_not_found", f"{ticket_id!r} is not a ticket id"))
    ups = upstreams(request)
    drafts: dict[str, str] = {}
    error = None
    try:
        if insert_article:
            article = await ups.get("intake", f"/v1/knowledge/articles/{quote(insert_article)}", token=session.token)
            drafts["reply"] = str(article.get("body", ""))
        if insert_template:
            rendered = await ups.post(
                "intake", f"/v1/tickets/{wanted}/reply-templates/{quote(insert_template)}/render", token=session.token
            )
            drafts["reply"] = str((rendered or {}).get("text", ""))
    except (Refused, Unavailable) as exc:
        error = problem(exc, "Could not insert that text")
    try:
        context = await ticket_context(request, session, wanted, drafts=drafts)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    return _ticket_page(session, context, error=error, done=DONE.get(done or ""))


@router.get("/fragments/ticket/{ticket_id}")
async def ticket_fragment(request: Request, ticket_id: uuid.UUID, session: SessionDep) -> Response:
    """The ticket's live region (header, clocks, timeline), for live updates."""
    try:
        context = await ticket_context(request, session, ticket_id, secondary=False)
    except (Refused, Unavailable) as exc:
        status = 503 if isinstance(exc, Unavailable) else exc.status
        return pages.render("error.html", title="", session=session, status=status, error=problem(exc), back=HOME)
    return pages.render("_ticket.html", title="", session=session, **context)


def _instant(value: str) -> str:
    """A `datetime-local` value (no zone: read as UTC) or an ISO instant, as ISO with its zone."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def action_call(action: Action, form: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The method, intake path suffix and JSON body of a ticket action's form."""
    text = form.get("body", "")
    if action is Action.REPLY:
        return "POST", "/replies", {"body": text}
    if action is Action.NOTE:
        return "POST", "/notes", {"body": text}
    if action is Action.UPDATE:
        return "POST", "/updates", {"body": text}
    if action is Action.WAIT:
        return "POST", "/waiting", {"body": text}
    if action is Action.PLAN:
        return (
            "POST",
            "/plan",
            {
                "summary": form.get("summary", ""),
                "committed_resolution_at": _instant(form.get("committed_resolution_at", "")),
            },
        )
    if action is Action.RESOLVE:
        return "POST", "/resolve", resolve_body(form)
    if action is Action.FOLLOW_UP:
        satisfied = {"yes": True, "no": False}.get(form.get("satisfied", ""))
        return "POST", "/follow-up", {"body": text, "satisfied": satisfied}
    if action is Action.RECATEGORISE:
        return "PATCH", "", {"category": form.get("category", "")}
    return "PATCH", "", {"urgency": form.get("urgency", "")}


def _drafts(action: Action, form: dict[str, str]) -> dict[str, str]:
    text = form.get("body") or form.get("summary") or form.get("resolution") or ""
    drafts = {action.value: text, "outcome": form.get("outcome", "")}
    if action is Action.PLAN:
        drafts["plan_at"] = form.get("committed_resolution_at", "")
    return drafts


@router.post("/tickets/{ticket_id}/connected")
async def connected(request: Request, ticket_id: uuid.UUID, session: SessionDep, ups: UpstreamsDep) -> Response:
    """The owner says a person is now with the customer waiting live (the call picked up, the chat
    answered): intake's `/connected`, which meets the 30-second live-access clock."""
    await checked_form(request, session)
    try:
        await ups.post("intake", f"/v1/tickets/{ticket_id}/connected", token=session.token)
    except (Refused, Unavailable) as exc:
        try:
            context = await ticket_context(request, session, ticket_id)
        except (Refused, Unavailable):
            return error_page(session, exc, back=f"{HOME}/tickets/{ticket_id}")
        page = _ticket_page(session, context, error=problem(exc))
        page.status_code = 503 if isinstance(exc, Unavailable) else exc.status
        return page
    return back_to(f"{HOME}/tickets/{ticket_id}", "connected")


@router.post("/tickets/{ticket_id}/{action_name}")
async def ticket_action(
    request: Request, ticket_id: uuid.UUID, action_name: str, session: SessionDep, ups: UpstreamsDep
) -> Response:
    """One action on a ticket through intake; back to the ticket, or the page with the API's reason.
    A reply may carry files (a multipart form): checked against intake's limits here, then sent
    as intake's `attachments` (base64), whose own refusals (type, name) the page shows."""
    try:
        action = Action(action_name)
    except ValueError:
        await checked_form(request, session)
        return error_page(session, Refused("workspace", 404, "unknown_action", f"no action {action_name!r}"))
    limits = settings_of(request).attachment_limits if action is Action.REPLY else None
    posted = await checked_form(request, session, limits=limits)
    form = posted.fields
    key = form.get("idempotency_key") or None
    headers = {"Idempotency-Key": key} if key else {}
    if action in (Action.RECATEGORISE, Action.CHANGE_URGENCY):
        # The version of the ticket the form was rendered from: a change made meanwhile by
        # someone else is refused (412) and the page shows it, rather than silently undone.
        headers["If-Match"] = f'"{form.get("version", "")}"'
    refusal: Refused | Unavailable
    beyond = check_files([(f.filename, len(f.content)) for f in posted.files], limits) if limits else None
    if beyond is not None:
        refusal = Refused("workspace", beyond.status, beyond.code, beyond.message)
    else:
        try:
            method, suffix, body = action_call(action, form)
        except ValueError:
            refusal = Refused("workspace", 422, "invalid_time", "the committed resolution time is not a date and time")
        else:
            if posted.files:
                body["attachments"] = attachments_of(posted.files)
            try:
                await ups.send(
                    "intake",
                    method,
                    f"/v1/tickets/{ticket_id}{suffix}",
                    token=session.token,
                    json=body,
                    headers=headers,
                    timeout=settings_of(request).upstream_upload_timeout_seconds if posted.files else None,
                )
            except (Refused, Unavailable) as exc:
                refusal = exc
            else:
                return back_to(f"{HOME}/tickets/{ticket_id}", action.value)
    try:
        context = await ticket_context(request, session, ticket_id, drafts=_drafts(action, form))
    except (Refused, Unavailable):
        return error_page(session, refusal, back=f"{HOME}/tickets/{ticket_id}")
    status = 503 if isinstance(refusal, Unavailable) else refusal.status
    files_refused = isinstance(refusal, Refused) and refusal.code in ATTACHMENT_CODES
    title = "The files were not sent" if files_refused else "The step was refused"
    page = _ticket_page(session, context, error=problem(refusal, title))
    page.status_code = status
    return page


def attachments_of(files: list[Upload]) -> list[dict[str, str]]:
    """A form's files as intake's `attachments` (name and base64 content)."""
    return [{"filename": f.filename, "content_base64": base64.b64encode(f.content).decode("ascii")} for f in files]


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}")
async def attachment(
    request: Request, ticket_id: uuid.UUID, attachment_id: uuid.UUID, session: SessionDep, ups: UpstreamsDep
) -> Response:
    """An attachment, fetched from intake as the person and handed over as a download."""
    try:
        upstream = await ups.send(
            "intake", "GET", f"/v1/tickets/{ticket_id}/attachments/{attachment_id}", token=session.token
        )
    except (Refused, Unavailable) as exc:
        return error_page(session, exc, back=f"{HOME}/tickets/{ticket_id}")
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": upstream.headers.get("content-disposition", "attachment"),
    }
    media = upstream.headers.get("content-type", "application/octet-stream")
    return Response(upstream.content, media_type=media, headers=headers)


# --- Search ----------------------------------------------------------------------------------


async def find_by_number(ups: Upstreams, token: str, number: str) -> str | None:
    """The id of the ticket with this number: intake's by-number read, else its `number=` filter
    (an older intake ignores the filter, so the answer is checked)."""
    try:
        found = await ups.get("intake", f"/v1/tickets/by-number/{quote(number)}", token=token)
        return str(found["id"])
    except Refused as exc:
        if exc.status not in (404, 405, 422):
            raise
    page = await ups.get("intake", "/v1/tickets", token=token, params={"number": number, "limit": 50})
    return next((str(i["id"]) for i in page.get("items", []) if i.get("number") == number), None)


async def find_ticket(ups: Upstreams, token: str, text: str) -> str | None:
    """A ticket named by its number or its id."""
    text = text.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return await find_by_number(ups, token, text.upper())


@router.get("/search")
async def search(
    request: Request,
    session: SessionDep,
    ups: UpstreamsDep,
    q: Annotated[str, Query(max_length=200)] = "",
    customer_id: Annotated[str, Query(max_length=100)] = "",
    offset: Offset = 0,
) -> Response:
    """Search by ticket number (straight to the ticket), customer id, or words."""
    q, customer_id = q.strip(), customer_id.strip()
    context: dict[str, Any] = {"q": q, "customer_id": customer_id, "page": None, "error": None}
    try:
        if q and looks_like_number(q):
            found = await find_by_number(ups, session.token, q.upper())
            if found is not None:
                return RedirectResponse(f"{HOME}/tickets/{found}", status_code=303, headers=PAGE_HEADERS)
            context["page"] = {"items": [], "total": 0, "limit": 0, "offset": 0}
        elif q or customer_id:
            limit = settings_of(request).page_size
            params = {"q": q or None, "customer_id": customer_id or None, "limit": limit, "offset": offset}
            page = await ups.get("intake", "/v1/tickets", token=session.token, params=params)
            context["page"] = page
            previous, following = page_window(page["offset"], page["limit"], page["total"])
            base = f"{HOME}/search?" + urlencode({k: v for k, v in (("q", q), ("customer_id", customer_id)) if v})
            context.update(previous=previous, following=following, base=base)
    except (Refused, Unavailable) as exc:
        context["error"] = problem(exc, "The search was refused")
    return pages.render("search.html", title="Search", session=session, current="search", **context)


# --- Presence --------------------------------------------------------------------------------


async def my_agent(ups: Upstreams, session: Session) -> dict[str, Any] | None:
    """Routing's record of me as an agent (`/v1/me`, else the department's agents list)."""
    try:
        me = await ups.get("routing", "/v1/me", token=session.token)
        agent: dict[str, Any] | None = me.get("agent")
        return agent
    except Refused as exc:
        if exc.status not in (404, 405):
            raise
    agents = await ups.get(
        "routing", "/v1/agents", token=session.token, params={"department_id": session.principal.department}
    )
    return next((a for a in agents if a.get("id") == session.principal.sub), None)


@router.get("/presence")
async def presence(request: Request, session: SessionDep, ups: UpstreamsDep) -> Response:
    """Available or away, as routing knows me."""
    try:
        agent = await my_agent(ups, session)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    return pages.render(
        "presence.html",
        title="Presence",
        session=session,
        current="presence",
        agent=agent,
        presence=(agent or {}).get("presence"),
        error=None,
        done=DONE.get(request.query_params.get("done", "")),
    )


@router.post("/presence")
async def set_presence(request: Request, session: SessionDep, ups: UpstreamsDep) -> Response:
    """Tell routing I am available or away."""
    form = (await checked_form(request, session)).fields
    wanted = form.get("presence", "")
    try:
        await ups.put(
            "routing",
            f"/v1/agents/{quote(session.principal.sub)}/presence",
            token=session.token,
            json={"presence": wanted},
        )
    except (Refused, Unavailable) as exc:
        status = 503 if isinstance(exc, Unavailable) else exc.status
        return pages.render(
            "presence.html",
            title="Presence",
            session=session,
            current="presence",
            status=status,
            agent=None,
            presence=None,
            error=problem(exc, "Presence not changed"),
            done=None,
        )
    return back_to(f"{HOME}/presence", "presence")


# --- Supervisor ------------------------------------------------------------------------------


async def supervisor_context(request: Request, session: Session) -> dict[str, Any]:
    """Team load and presence, clocks due within 30 minutes, breaches, counters and their alerts."""
    ups = upstreams(request)
    token = session.token
    department = session.principal.department
    notes: list[str] = []
    agents = await ups.get("routing", "/v1/agents", token=token, params={"department_id": department})
    departments, note = await _optional(ups.get("routing", "/v1/departments", token=token), "Departments unavailable")
    notes += [note] if note else []
    due, note = await _optional(
        ups.get("sla", "/v1/clocks/due", token=token, params={"within": "PT30M", "department": department}),
        "Due clocks unavailable",
    )
    notes += [note] if note else []
    breaches, note = await _optional(
        ups.get("sla", "/v1/breaches", token=token, params={"department": department, "limit": 25}),
        "Breaches unavailable",
    )
    notes += [note] if note else []
    escalations, note = await _optional(
        ups.get("sla", "/v1/escalations", token=token, params={"department": department, "limit": 25}),
        "Escalations unavailable",
    )
    notes += [note] if note else []
    counters: list[dict[str, Any]] = []
    names, note = await _optional(ups.get("intake", "/v1/counters", token=token), "Counter queues unavailable")
    notes += [note] if note else []
    for counter in names or []:
        queue, note = await _optional(
            ups.get("intake", f"/v1/counters/{quote(counter['name'])}/queue", token=token), "A counter queue"
        )
        if queue is not None:
            counters.append(queue)
    return {
        "agents": agents,
        "departments": departments or [],
        "due_soon": (due or {}).get("items", []),
        "breaches": (breaches or {}).get("items", []),
        "escalations": (escalations or {}).get("items", []),
        "counters": counters,
        "waits": overdue_waits(counters),
        "notes": notes,
    }


@router.get("/supervisor")
async def supervisor(
    request: Request, session: SessionDep, ticket: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """The supervisor's view of the department (`ticket` prefills the reassign and transfer forms)."""
    try:
        context = await supervisor_context(request, session)
    except (Refused, Unavailable) as exc:
        return error_page(session, exc)
    return pages.render(
        "supervisor.html",
        title="Supervisor",
        session=session,
        current="supervisor",
        error=None,
        done=DONE.get(request.query_params.get("done", "")),
        ticket=ticket.strip(),
        **context,
    )


async def _supervisor_step(request: Request, session: Session, step: str) -> Response:
    form = (await checked_form(request, session)).fields
    ups = upstreams(request)
    try:
        ticket_id = await find_ticket(ups, session.token, form.get("ticket", ""))
        if ticket_id is None:
            raise Refused("intake", 404, "ticket_not_found", f"no ticket {form.get('ticket', '')!r}")
        if step == "assign":
            body: dict[str, Any] = {
                "agent_id": form.get("agent_id", ""),
                "note": form.get("note") or None,
                "override": form.get("override") == "yes",
            }
        else:
            body = {"department_id": form.get("department_id", ""), "note": form.get("note", "")}
        await ups.post("routing", f"/v1/tickets/{ticket_id}/{step}", token=session.token, json=body)
    except (Refused, Unavailable) as exc:
        try:
            context = await supervisor_context(request, session)
        except (Refused, Unavailable):
            return error_page(session, exc, back=f"{HOME}/supervisor")
        status = 503 if isinstance(exc, Unavailable) else exc.status
        return pages.render(
            "supervisor.html",
            title="Supervisor",
            session=session,
            current="supervisor",
            status=status,
            error=problem(exc, f"The {step} was refused"),
            done=None,
            ticket=form.get("ticket", ""),
            **context,
        )
    return back_to(f"{HOME}/supervisor", step)


@router.post("/supervisor/assign")
async def assign(request: Request, session: SessionDep) -> Response:
    """Assign a ticket to a named agent (override with a reason)."""
    return await _supervisor_step(request, session, "assign")


@router.post("/supervisor/transfer")
async def transfer(request: Request, session: SessionDep) -> Response:
    """Transfer a ticket to another department."""
    return await _supervisor_step(request, session, "transfer")
