"""Time-driven work: the timer that wakes at the next due instant, and the re-targeting of
clocks after a policy or calendar change."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

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

    async def run(self) -> None:
        """Forever: fire what is due, then wait for the next due instant."""
        while True:
            try:
                announced, full = await self.run_once()
                if full:
                    continue
                async with self.runtime.sessions() as session:
                    next_at = await repository.next_due(session)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("SLA timer batch failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(min(1.0, self.settings.timer_max_idle_seconds))
                continue
            idle = self.settings.timer_max_idle_seconds
            if next_at is not None:
                idle = min(idle, max(0.0, (next_at - self.runtime.clock.now()).total_seconds()))
            if idle == 0 and announced == 0:
                # Due, yet nothing fired: its ticket is locked by a consumer right now.
                idle = 0.01
            if idle > 0:
                await asyncio.sleep(idle)


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
