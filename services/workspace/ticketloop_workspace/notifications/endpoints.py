"""`GET /workspace/events`: the signed-in person's notifications as server-sent events.

Each message is `id: <notification id>`, `event: <kind>`, `data: <notification JSON>`. The
browser's EventSource sends the last id back as `Last-Event-ID` when it reconnects (a new page
may pass `?last_event_id=` for the same), and gets exactly what it missed. A comment line every
`live_heartbeat_seconds` keeps proxies from closing a quiet stream. The stream ends with an
`expired` event when the token behind the session expires or is revoked (the page then signs in
again), and without one when the browser fell too far behind (it reconnects and resumes).
"""

# No `from __future__ import annotations` here: the route's `Depends(principal_dependency)` names
# a variable of the enclosing function, which FastAPI could not resolve from a string annotation.
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from ticketloop_shared.auth import Principal, RevocationList
from ticketloop_workspace.notifications.domain import Notification, audiences_of
from ticketloop_workspace.notifications.hub import Subscription
from ticketloop_workspace.notifications.schemas import NotificationOut
from ticketloop_workspace.notifications.service import STATE_KEY, LiveNotifications

EVENT_STREAM = "text/event-stream"


def events_router(principal_dependency: Callable[..., Any]) -> APIRouter:
    """The live stream, for people `principal_dependency` (a FastAPI dependency returning the
    verified `Principal`: the session cookie's in the workspace, a bearer token in tests) lets in."""
    router = APIRouter(tags=["live"])

    @router.get(
        "/workspace/events",
        response_class=StreamingResponse,
        responses={200: {"content": {EVENT_STREAM: {}}, "description": "The person's notifications, live"}},
    )
    async def workspace_events(
        request: Request,
        principal: Annotated[Principal, Depends(principal_dependency)],
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)] = None,
        last_event_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> StreamingResponse:
        """Stream the caller's notifications from now on, or from after the one it names."""
        live: LiveNotifications = getattr(request.app.state, STATE_KEY)
        audiences = audiences_of(principal.sub, principal.role, principal.department)
        sub = await live.subscribe(audiences, last_event_id_header or last_event_id)
        revocations: RevocationList | None = getattr(request.app.state, "revocations", None)
        return StreamingResponse(
            _stream(live, sub, principal, revocations),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _stream(
    live: LiveNotifications, sub: Subscription, principal: Principal, revocations: RevocationList | None
) -> AsyncIterator[str]:
    settings = live.settings
    try:
        yield f"retry: {settings.live_retry_ms}\n\n"
        if sub.resync:
            yield "event: resync\ndata: {}\n\n"
        for held in sub.backlog:
            yield message(held)
        while True:
            left = principal.exp - time.time()
            if left <= 0 or (revocations is not None and revocations.is_revoked(principal)):
                yield "event: expired\ndata: {}\n\n"
                return
            if sub.dropped and sub.queue.empty():
                return
            note = await sub.next(min(settings.live_heartbeat_seconds, left))
            yield ": keep-alive\n\n" if note is None else message(note)
    finally:
        live.hub.unsubscribe(sub)


def message(note: Notification) -> str:
    """One notification as a server-sent event (the JSON has no newline, so one `data:` line)."""
    body = json.dumps(NotificationOut.of(note).model_dump(mode="json"), separators=(",", ":"))
    return f"id: {note.id}\nevent: {note.kind.value}\ndata: {body}\n\n"
