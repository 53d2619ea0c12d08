"""Time-driven segment work: the sweep that applies the rules which change with time alone."""

from __future__ import annotations

from ticketloop_retrospective.customers import service
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveRuntime
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[RetrospectiveSettings]()


@SCHEDULE.every(name="segment-sweep", seconds=lambda s: s.segment_sweep_check_seconds)
async def sweep(runtime: RetrospectiveRuntime) -> int:
    """Re-decide the segment of every customer not looked at for a day, batch after batch (each
    its own transaction, rows locked with SKIP LOCKED so replicas split the customers); the
    top-spend line is recomputed once first. Returns how many customers were looked at."""
    async with runtime.unit_of_work() as uow:
        threshold = await service.spend_threshold(uow, refresh=True)
    total = 0
    while True:
        async with runtime.unit_of_work() as uow:
            done, full = await service.sweep_batch(uow, threshold=threshold, limit=runtime.settings.segment_sweep_batch)
        total += done
        if not full:
            return total
