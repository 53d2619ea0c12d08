"""Running an ASGI app under uvicorn with a one-second tick instead of a tenth of a second.

uvicorn's server wakes ten times a second to see whether it should stop and, every tenth time,
to refresh its `Date` header. Eight such processes in the embedded stack woke eighty times a
second for nothing, a visible share of what the idle stack costs. Here the server wakes once a
second (the `Date` header is still fresh to the second) and at once when a stop is asked for, so
stopping is not slower.
"""

from __future__ import annotations

import asyncio
import sys
from types import FrameType
from typing import Any

import uvicorn

from ticketloop_shared.cancellation import wait_for_event

# uvicorn refreshes the Date header on every tenth tick: each of ours counts as ten.
_TICKS_PER_SECOND = 10
# uvicorn's exit status when the server never started (a port in use, an app that failed).
STARTUP_FAILURE = 3


class QuietServer(uvicorn.Server):
    """A uvicorn server that ticks once a second and is woken by an exit signal."""

    tick_seconds = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_asked: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_asked = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + _TICKS_PER_SECOND) % 864_000
            await wait_for_event(self._exit_asked, self.tick_seconds)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.wake()

    def wake(self) -> None:
        """Look at `should_exit` now (from a signal handler or another thread too)."""
        if self._loop is not None and self._exit_asked is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._exit_asked.set)


def run(app: Any, **options: Any) -> None:
    """`uvicorn.run(app, **options)` with the quiet server (several workers: uvicorn's own)."""
    config = uvicorn.Config(app, **options)
    if config.workers > 1 or config.reload:
        uvicorn.run(app, **options)
        return
    server = QuietServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)
