"""A service's stop is bounded: a background task that swallowed its cancellation (a bug) is left
behind, named in the log, instead of holding the process and a rolling update for ever."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.support import serve
from ticketloop_shared import runtime as runtime_module
from ticketloop_shared.settings import PlatformSettings


async def test_a_stop_leaves_behind_a_task_that_will_not_stop_instead_of_waiting_for_it(
    platform: PlatformSettings,
    new_database: Callable[[str], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ticketloop_sla.app import create_app
    from ticketloop_sla.settings import SlaSettings

    monkeypatch.setattr(runtime_module, "STOP_TASKS_SECONDS", 1.0)
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await released.wait()  # swallowed: goes on until the test releases it

    settings = SlaSettings(database_url=await new_database("sla"), platform=platform)
    loop = asyncio.get_running_loop()
    async with serve(create_app(settings)) as running:
        runtime = running.app.state.runtime
        runtime._spawn("stubborn", stubborn())
        stubborn_task = runtime._tasks[-1]
        others = runtime._tasks[:-1]
        stopping_at = loop.time()
    took = loop.time() - stopping_at
    try:
        assert took < 10, f"the stop waited {took:.1f}s"
        assert not stubborn_task.done(), "left behind, still running"
        assert all(t.done() for t in others), "every well-behaved task stopped"
    finally:
        released.set()
        await asyncio.wait({stubborn_task}, timeout=5)
