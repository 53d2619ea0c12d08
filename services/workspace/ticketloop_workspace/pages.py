"""The workspace's pages: Jinja2 templates in `templates/` with autoescape on (the shared
environment), every answer with the browser policy of `domain.PAGE_HEADERS`."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi.responses import HTMLResponse

from ticketloop_shared import templates
from ticketloop_shared.vocabulary import Category, Urgency
from ticketloop_workspace.domain import (
    ATTACHMENT_ACCEPT,
    CSRF_FIELD,
    HOME,
    LOGIN,
    PAGE_HEADERS,
    STATIC,
    countdown,
    readable_size,
    words,
)
from ticketloop_workspace.session import Session


def _iso(value: str | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: str | datetime | None) -> str:
    """An instant as a UTC wall-clock time, to the minute."""
    return templates.local_time(_parse(value), UTC) + (" UTC" if value else "")


def left(value: str | datetime | None) -> str:
    """How long until (or since) a due instant, as the page first shows it (the script keeps it live)."""
    due = _parse(value)
    return countdown(due, datetime.now(UTC)) if due is not None else "–"


TEMPLATES = templates.environment(
    "ticketloop_workspace", filters={"when": when, "left": left, "iso": _iso, "words": words, "size": readable_size}
)
TEMPLATES.globals.update(
    home=HOME,
    login=LOGIN,
    static=STATIC,
    csrf_field=CSRF_FIELD,
    attachment_accept=ATTACHMENT_ACCEPT,
    categories=[c.value for c in Category],
    urgencies=[u.value for u in Urgency],
)
# The live-updates script ships with the notifications package; pages load it once it is there.
HAS_LIVE = resources.files("ticketloop_workspace").joinpath("static", "live.js").is_file()


def render(
    name: str, *, title: str, session: Session | None, status: int = 200, current: str = "", **context: Any
) -> HTMLResponse:
    """A whole page (or, for a name starting with `_`, a fragment) with the workspace's headers."""
    body = TEMPLATES.get_template(name).render(
        title=title,
        session=session,
        me=session.principal if session else None,
        current=current,
        live=HAS_LIVE,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
