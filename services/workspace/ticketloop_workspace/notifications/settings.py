"""The live notifications' knobs (`TICKETLOOP_WORKSPACE_LIVE_*`), a model of their own so the
workspace's settings can hold them as one field or inherit them, whichever it prefers."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LiveSettings(BaseSettings):
    """How much the workspace remembers for reconnecting browsers, and how it talks to them."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_WORKSPACE_", extra="ignore")

    # A browser that reconnects within this long gets every notification it missed; after a
    # restart the tailer refills the buffers with the notifications of this window.
    live_window_seconds: float = Field(default=900.0, gt=0)
    # Notifications kept per audience (a person, or the supervisors or staff of a department).
    live_buffer_size: int = Field(default=500, ge=1)
    # Notifications waiting to be written to one browser; a browser this far behind is
    # disconnected and resumes from the buffer with Last-Event-ID instead of growing memory.
    live_queue_size: int = Field(default=256, ge=1)
    # A comment line every this long keeps proxies from closing a quiet stream.
    live_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # The reconnection delay the browser is told to use (SSE `retry:`).
    live_retry_ms: int = Field(default=2000, ge=100)
    # Open tickets whose owner, department and number the tailer keeps (closed ones are
    # forgotten; past this many, the least recently seen go first).
    live_max_tickets: int = Field(default=200_000, ge=100)
    # A stream opened while the tailer is still reading the topics waits at most this long for
    # it to catch up before resuming (a resume before that could miss a rebuilt notification).
    live_ready_timeout_seconds: float = Field(default=10.0, ge=0)
    # Backoff between reconnections to the broker.
    live_reconnect_seconds: float = Field(default=0.5, gt=0)
    live_reconnect_max_seconds: float = Field(default=10.0, gt=0)
