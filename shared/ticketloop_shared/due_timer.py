"""The loop every due-time timer runs (sla's clocks, feedback's surveys, retrospective's care
contacts): do one batch of what is due, and when the batch was not full sleep until the next due
instant, never longer than a limit (so a row another replica, or an injected test clock, made due
earlier is still seen within it). A failing batch is logged and retried, never a hot loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from ticketloop_shared.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """What one batch did: how many rows, and whether it stopped at its limit (more may be due)."""

    done: int
    full: bool


async def run_due_timer(
    *,
    name: str,
    clock: Clock,
    run_batch: Callable[[], Awaitable[Batch]],
    next_due: Callable[[], Awaitable[datetime | None]],
    max_idle_seconds: float,
    idle_when_stuck: float = 0.01,
) -> None:
    """Forever: run a batch, then wait for the next due instant.

    A due row that nothing could be done with (locked by a consumer changing it, or failing and
    pushed back by its batch) would make the wait zero: it waits `idle_when_stuck` instead."""
    while True:
        try:
            batch = await run_batch()
            if batch.full:
                continue
            next_at = await next_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(f"{name} batch failed; retrying", extra={"error": repr(exc)})
            await asyncio.sleep(min(1.0, max_idle_seconds))
            continue
        idle = max_idle_seconds
        if next_at is not None:
            idle = min(idle, max(0.0, (next_at - clock.now()).total_seconds()))
        if idle == 0 and batch.done == 0:
            idle = idle_when_stuck
        if idle > 0:
            await asyncio.sleep(idle)
