"""Time-driven work: the timer that wakes at the next due instant, and the re-targeting of
clocks after a policy or calendar change."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ticketloop_shared.due_timer import Batch, run_due_timer
from ticketloop_shared.runtime import Runtime
from ticketloop_sla.clocks import repository, service
from ticketloop_sla.settings import SlaSettings

log = logging.getLogger(__name__)


class Timer:
    """Sleeps until the earliest instant any clock needs (read through the due-time index),
    announces everything due then, and goes back to sleep.

    It never sleeps longer than `timer_max_idle_seconds`, so a clock another replica (or an
    injected test clock) made due earlier is still seen within that much; a batch that comes
    back full is followed at once by the next. Replicas share due tickets by skipping the rows
    another one holds.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings: SlaSettings = runtime.settings  # type: ignore[assignment]
        self.announced = 0

    async def run_once(self) -> tuple[int, bool]:
        """One batch in its own transaction."""
        async with self.runtime.unit_of_work() as uow:
            announced, full = await service.fire_due(uow, limit=self.settings.timer_batch)
        self.announced += announced
        return announced, full

    async def next_due(self) -> datetime | None:
        """The earliest instant any clock needs."""
        async with self.runtime.sessions() as session:
            return await repository.next_due(session)

    async def run(self) -> None:
        """Forever: fire what is due, then wait for the next due instant."""

        async def batch() -> Batch:
            announced, full = await self.run_once()
            return Batch(announced, full)

        await run_due_timer(
            name="SLA timer",
            clock=self.runtime.clock,
            run_batch=batch,
            next_due=self.next_due,
            max_idle_seconds=self.settings.timer_max_idle_seconds,
        )


async def recompute(runtime: Runtime) -> int:
    """Re-target the open tickets set under older rules, batch after batch until none is left."""
    settings: Any = runtime.settings
    total = 0
    while True:
        async with runtime.unit_of_work() as uow:
            done = await service.recompute(uow, limit=settings.recompute_batch)
        total += done
        if done < settings.recompute_batch:
            return total
