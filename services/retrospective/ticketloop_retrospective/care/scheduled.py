"""Time-driven care work: the timer that makes contacts due when their moment comes."""

from __future__ import annotations

import logging
from datetime import datetime

from ticketloop_retrospective.care import repository, service
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.due_timer import Batch, run_due_timer
from ticketloop_shared.runtime import Runtime

log = logging.getLogger(__name__)


class CareTimer:
    """Sleeps until the earliest contact any schedule has due (read through its index), makes
    everything due then into tasks, fires the anticipation rules, and goes back to sleep.

    It never sleeps longer than `care_timer_max_idle_seconds`, so an anticipation moment (which
    has no index of its own to wake it) or a contact another replica (or an injected test clock)
    made due earlier is seen within that much. Replicas share due schedules by skipping the rows
    another one holds, and an anticipation rule is fired by one replica at a time.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings: RetrospectiveSettings = runtime.settings  # type: ignore[assignment]
        self.announced = 0

    async def run_once(self) -> tuple[int, bool]:
        """One batch of cadence contacts and one of anticipation moments, in one transaction."""
        limit = self.settings.care_timer_batch
        async with self.runtime.unit_of_work() as uow:
            cadence, more_due = await service.fire_due(uow, limit=limit)
            anticipated, more_moments = await service.fire_anticipation(uow, limit=limit)
        self.announced += cadence + anticipated
        return cadence + anticipated, more_due or more_moments

    async def next_due(self) -> datetime | None:
        """The earliest contact any schedule has due."""
        async with self.runtime.sessions() as session:
            return await repository.next_due(session)

    async def run(self) -> None:
        """Forever: fire what is due, then wait for the next due instant."""

        async def batch() -> Batch:
            done, full = await self.run_once()
            return Batch(done, full)

        await run_due_timer(
            name="care timer",
            clock=self.runtime.clock,
            run_batch=batch,
            next_due=self.next_due,
            max_idle_seconds=self.settings.care_timer_max_idle_seconds,
        )


async def run_timer(runtime: Runtime) -> None:
    """The care timer, for as long as the service runs."""
    await CareTimer(runtime).run()
