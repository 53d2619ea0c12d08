"""Time-driven segment work: the sweep that applies the rules which change with time alone."""

from __future__ import annotations

from ticketloop_retrospective.customers import service
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.runtime import Runtime


async def sweep(runtime: Runtime) -> int:
    """Re-decide the segment of every customer not looked at for a day, batch after batch (each
    its own transaction, rows locked with SKIP LOCKED so replicas split the customers); the
    top-spend line is recomputed once first. Returns how many customers were looked at."""
    settings: RetrospectiveSettings = runtime.settings  # type: ignore[assignment]
    async with runtime.unit_of_work() as uow:
        threshold = await service.spend_threshold(uow, refresh=True)
    total = 0
    while True:
        async with runtime.unit_of_work() as uow:
            done, full = await service.sweep_batch(uow, threshold=threshold, limit=settings.segment_sweep_batch)
        total += done
        if not full:
            return total
