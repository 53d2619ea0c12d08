"""The live notifications of one workspace process: the tailer feeding the hub, started and
stopped by the app's lifespan, and what the endpoint asks of them."""

from __future__ import annotations

from datetime import timedelta

from ticketloop_shared.cancellation import wait_for_event
from ticketloop_shared.clock import Clock, SystemClock
from ticketloop_shared.settings import PlatformSettings
from ticketloop_workspace.notifications.consumer import Tailer
from ticketloop_workspace.notifications.domain import Audience, TicketBook
from ticketloop_workspace.notifications.hub import Hub, Subscription
from ticketloop_workspace.notifications.settings import LiveSettings

# Where the app keeps its `LiveNotifications` (`app.state.live_notifications`).
STATE_KEY = "live_notifications"


class LiveNotifications:
    """Hub, ticket book and tailer together; the app's lifespan calls `start` and `stop`."""

    def __init__(
        self,
        platform: PlatformSettings,
        settings: LiveSettings | None = None,
        *,
        clock: Clock | None = None,
        client_id: str = "workspace-live",
    ) -> None:
        self.settings = settings or LiveSettings()
        self.clock: Clock = clock or SystemClock()
        self.hub = Hub(
            buffer_size=self.settings.live_buffer_size,
            window=timedelta(seconds=self.settings.live_window_seconds),
            queue_size=self.settings.live_queue_size,
            clock=self.clock,
        )
        self.book = TicketBook(self.settings.live_max_tickets)
        self.tailer = Tailer(
            platform=platform,
            settings=self.settings,
            hub=self.hub,
            book=self.book,
            clock=self.clock,
            client_id=client_id,
        )

    def start(self) -> None:
        """Start tailing the topics in the background (returns at once; the start-up read goes on)."""
        self.tailer.start()

    async def stop(self) -> None:
        """Stop tailing."""
        await self.tailer.stop()

    async def subscribe(self, audiences: tuple[Audience, ...], last_event_id: str | None) -> Subscription:
        """A live connection, resuming after `last_event_id`: waits (a bounded while) for the
        start-up read, so a resume right after a restart finds what the browser missed."""
        if not self.hub.ready.is_set() and self.settings.live_ready_timeout_seconds > 0:
            await wait_for_event(self.hub.ready, self.settings.live_ready_timeout_seconds)
        return self.hub.subscribe(audiences, last_event_id)

    def problems(self) -> dict[str, str]:
        """Why live notifications are not ready (for the app's readiness check)."""
        if not self.tailer.connected.is_set():
            return {"live_notifications": "not connected to the broker"}
        if not self.tailer.caught_up:
            return {"live_notifications": "still reading the topics"}
        return {}
