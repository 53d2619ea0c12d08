"""The workspace's rules, kept pure: which ticket actions the lifecycle allows (mirroring
intake's transitions, so a button is offered only when intake would take the step), the CSRF token
of a session, where a sign-in may return to, and the browser policy of every page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ticketloop_shared import csrf
from ticketloop_shared.events import CareOutcome, TicketOrigin
from ticketloop_shared.vocabulary import TicketStatus

HOME = "/workspace"
LOGIN = "/workspace/login"
STATIC = "/workspace/static"
# The person's own staff token rides in this cookie, sent back only to the workspace's pages.
COOKIE = "ticketloop_workspace"
COOKIE_PATH = "/workspace"
CSRF_FIELD = csrf.FIELD

# Pages load only their own script, stylesheet and images; nothing may frame them or receive their
# forms. No inline script or style anywhere (countdowns and live updates are files under STATIC).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Customers' tickets: never kept in a shared cache or the browser's back-forward store.
    "Cache-Control": "no-store",
}


class Action(StrEnum):
    """What a staff member can do to a ticket from its page (intake's actions, by its names)."""

    REPLY = "reply"
    NOTE = "note"
    PLAN = "plan"
    UPDATE = "update"
    WAIT = "wait"
    RESOLVE = "resolve"
    FOLLOW_UP = "follow_up"
    RECATEGORISE = "recategorise"
    CHANGE_URGENCY = "change_urgency"


PENDING, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED = (
    TicketStatus.PENDING_ASSIGNMENT,
    TicketStatus.IN_PROGRESS,
    TicketStatus.WAITING_ON_CUSTOMER,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
    TicketStatus.REOPENED,
)
OPEN: frozenset[str] = frozenset({PENDING, IN_PROGRESS, WAITING, REOPENED})
ALL_STATUSES: frozenset[str] = frozenset(TicketStatus)

# From which statuses intake takes each step (intake's `tickets/domain.py` `_TRANSITIONS`).
ALLOWED_FROM: Mapping[Action, frozenset[str]] = {
    Action.REPLY: frozenset({PENDING, IN_PROGRESS, WAITING, RESOLVED, REOPENED}),
    Action.NOTE: ALL_STATUSES,
    Action.PLAN: frozenset({PENDING, IN_PROGRESS, WAITING, REOPENED}),
    Action.UPDATE: frozenset({PENDING, IN_PROGRESS, WAITING, REOPENED}),
    Action.WAIT: frozenset({IN_PROGRESS, REOPENED}),
    Action.RESOLVE: OPEN,
    Action.FOLLOW_UP: frozenset({RESOLVED, CLOSED}),
    Action.RECATEGORISE: OPEN,
    Action.CHANGE_URGENCY: OPEN,
}
# Steps on the customer's problem itself: only the ticket's owner or a supervisor (or an admin).
OWNER_ACTIONS = frozenset(set(Action) - {Action.NOTE})


def allowed_actions(status: str, *, role: str, me: str, assignee_id: str | None) -> frozenset[Action]:
    """The actions offered on a ticket in `status` to staff member `me` with `role`: those intake's
    lifecycle allows from that status, and of those the owner's steps only to the assignee, a
    supervisor or an admin (intake checks the department; the workspace only shows what may work)."""
    may_act = role in ("supervisor", "admin") or (assignee_id is not None and assignee_id == me)
    return frozenset(
        action
        for action, statuses in ALLOWED_FROM.items()
        if status in statuses and (action not in OWNER_ACTIONS or may_act)
    )


def csrf_key(signing_secret: str) -> bytes:
    """The workspace's CSRF key (`ticketloop_shared.csrf`: the same guard as the dashboard's)."""
    return csrf.csrf_key(signing_secret, "workspace")


def safe_return(target: str | None) -> str:
    """Where to go after sign-in: a workspace page of this site, never another site or the login."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or target.startswith("//"):
        return HOME
    if not (parts.path == HOME or parts.path.startswith(HOME + "/")) or parts.path.startswith(LOGIN):
        return HOME
    return target


def countdown(due: datetime, now: datetime) -> str:
    """A due instant as a person reads it at a glance: `in 1 h 05 min`, `overdue by 3 min`."""
    left = due - now
    late = left < timedelta(0)
    seconds = int(abs(left.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        text = f"{hours // 24} d {hours % 24} h"
    elif hours:
        text = f"{hours} h {minutes:02d} min"
    elif minutes:
        text = f"{minutes} min {secs:02d} s"
    else:
        text = f"{secs} s"
    return f"overdue by {text}" if late else f"in {text}"


def words(value: str | None) -> str:
    """An API word (`waiting_on_customer`) as a label (`waiting on customer`)."""
    return (value or "").replace("_", " ")


def api_reason(status: int, body: Any) -> tuple[str, str]:
    """The code and message of a refusal in the services' error shape (`{"error": {"code",
    "message"}}`), or what can be said from the status alone."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or status), str(error.get("message") or "")
        detail = body.get("detail")
        if isinstance(detail, str):
            return str(status), detail
    return str(status), f"the service answered {status}"


def page_window(offset: int, limit: int, total: int) -> tuple[int | None, int | None]:
    """The offsets of the previous and next pages of a list (None where there is none)."""
    previous = max(0, offset - limit) if offset > 0 else None
    following = offset + limit if offset + limit < total else None
    return previous, following


def looks_like_number(text: str) -> bool:
    """A search that is a ticket number (`T20261123000042`: a letter prefix, then 8+ digits)."""
    stripped = text.strip()
    head = stripped.rstrip("0123456789")
    digits = len(stripped) - len(head)
    return digits >= 8 and head.isalpha() and 0 < len(head) <= 10


def clock_rows(sla: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each clock's current cycle (its highest), in the order sla listed them: what the ticket page
    shows with a countdown while it runs and as paused while paused."""
    current: dict[str, dict[str, Any]] = {}
    for clock in (sla or {}).get("clocks") or []:
        kind = str(clock.get("clock"))
        if kind not in current or int(clock.get("cycle") or 0) > int(current[kind].get("cycle") or 0):
            current[kind] = dict(clock)
    return list(current.values())


# What the reply form's file input offers (intake decides the type from the content; this only
# narrows the browser's file picker).
ATTACHMENT_ACCEPT = "image/jpeg,image/png,image/gif,image/webp,application/pdf,.jpg,.jpeg,.png,.gif,.webp,.pdf"


@dataclass(frozen=True)
class AttachmentLimits:
    """Intake's limits on the files of one message (its `attachment_*` settings), checked here
    before a form's files are encoded and sent, so an oversized upload goes no further."""

    max_bytes: int
    max_count: int
    max_total_bytes: int

    @property
    def form_bytes(self) -> int:
        """The largest multipart body a form with files may have: every file at its largest, and
        room for the text fields and the parts' headers."""
        return self.max_total_bytes + self.max_count * 2_048 + 256 * 1_024


@dataclass(frozen=True)
class FileRefusal:
    """Why a form's files are not sent: intake's status and code for the same problem."""

    status: int
    code: str
    message: str


def check_files(files: Sequence[tuple[str, int]], limits: AttachmentLimits) -> FileRefusal | None:
    """The first problem of a form's files (`(name, size)` each) under intake's limits, with
    intake's codes: 422 `too_many_attachments`, 413 `attachment_too_large` (one file) or
    `attachments_too_large` (all of them); None when they may be sent. Types, names and empty
    files are intake's to judge (its reasons are shown as it gives them)."""
    if len(files) > limits.max_count:
        chosen = f"a message carries at most {limits.max_count} attachments ({len(files)} chosen)"
        return FileRefusal(422, "too_many_attachments", chosen)
    for name, size in files:
        if size > limits.max_bytes:
            return FileRefusal(
                413, "attachment_too_large", f"{name!r} is larger than {readable_size(limits.max_bytes)}"
            )
    if sum(size for _, size in files) > limits.max_total_bytes:
        return FileRefusal(
            413,
            "attachments_too_large",
            f"the attachments together are larger than {readable_size(limits.max_total_bytes)}",
        )
    return None


def readable_size(size: int) -> str:
    """A byte count as a person reads it (`10 MB`, `512 KB`, `300 bytes`); binary units."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def overdue_waits(queues: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The counter numbers waiting past the limit (intake's `wait_exceeded`, the 20 minutes it
    announces as `care.wait_exceeded`), longest wait first, each with its counter: what a
    supervisor acts on before anything else on the counters."""
    late = [
        {**entry, "counter": queue.get("counter", entry.get("counter"))}
        for queue in queues
        for entry in queue.get("entries") or []
        if entry.get("wait_exceeded") and entry.get("status", "waiting") == "waiting"
    ]
    return sorted(late, key=lambda e: -float(e.get("waited_seconds") or 0))


# The outcomes a care contact is completed with, in the order the form offers them.
CARE_OUTCOMES: tuple[tuple[str, str], ...] = (
    (CareOutcome.REACHED.value, "Reached: we spoke with the customer"),
    (CareOutcome.NO_ANSWER.value, "No answer: try again later"),
    (CareOutcome.DECLINED.value, "Declined: the customer did not want to talk"),
    (CareOutcome.FOLLOW_UP.value, "Follow-up needed: contact them again"),
)


def is_care_task(ticket: Mapping[str, Any]) -> bool:
    """A care contact (origin `care`) is a task with a due date and an outcome, not a problem
    measured on sla's clocks: its page shows the due date and asks for the outcome."""
    return ticket.get("origin") == TicketOrigin.CARE.value


def overdue(due_at: datetime | None, now: datetime) -> bool:
    """A care task still open past its due date (the indicator its list and page show)."""
    return due_at is not None and due_at < now


def resolve_body(form: Mapping[str, str]) -> dict[str, Any]:
    """Intake's resolve body from a form: the resolution, and the outcome when one was chosen
    (intake requires it on a care ticket and refuses it on any other, with its reason)."""
    body: dict[str, Any] = {"resolution": form.get("resolution", "")}
    if form.get("outcome"):
        body["outcome"] = form["outcome"]
    return body
