"""Live notifications: who is told what (`domain`), the per-audience buffer with resume (`hub`),
the topic tailer (`consumer`) and the server-sent event stream (`endpoints`).

The app wires them in three lines: `app.state.live_notifications = LiveNotifications(platform,
LiveSettings())`, `start()` / `await stop()` in its lifespan, and
`app.include_router(events_router(signed_in_principal))`.
"""

from ticketloop_workspace.notifications.endpoints import events_router
from ticketloop_workspace.notifications.service import STATE_KEY, LiveNotifications
from ticketloop_workspace.notifications.settings import LiveSettings

__all__ = ["STATE_KEY", "LiveNotifications", "LiveSettings", "events_router"]
