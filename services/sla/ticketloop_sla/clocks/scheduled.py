"""Time-driven clock work: the timer that wakes at the next due instant, and the re-targeting
of clocks after a policy or calendar change."""

from __future__ import annotations

from datetime import datetime

from ticketloop_shared.scheduler import Batch, Scheduler
from ticketloop_sla.clocks import repository, service
from ticketloop_sla.settings import SlaSettings
from ticketloop_sla.unit import SlaRuntime

SCHEDULE = Scheduler[SlaSettings]()


async def next_due(runtime: SlaRuntime) -> datetime | None:
    """The earliest instant any clock needs (read through the due-time index)."""
    async with runtime.sessions() as session:
        return await repository.next_due(session)


@SCHEDULE.due(
    name="timer",
    next_due=next_due,
    max_idle=lambda s: s.timer_max_idle_seconds,
    enabled=lambda s: s.timer_enabled,
    wake=service.TIMER_WAKE,
)
async def fire_due(runtime: SlaRuntime) -> Batch:
    """Announce every warning, breach and escalation due now, in one transaction.

    The timer never sleeps longer than `timer_max_idle_seconds`, so a clock another replica (or
    an injected test clock) made due earlier is still seen within that much; a clock this
    process's consumer or recompute makes due sooner wakes it (`service.TIMER_WAKE`). Replicas
    share due tickets by skipping the rows another one holds."""
    async with runtime.unit_of_work() as uow:
        announced, full = await service.fire_due(uow, limit=runtime.settings.timer_batch)
    return Batch(announced, full)


@SCHEDULE.every(name="recompute", seconds=lambda s: s.recompute_seconds)
async def recompute(runtime: SlaRuntime) -> int:
    """Re-target the open tickets set under older rules, batch after batch until none is left."""
    limit = runtime.settings.recompute_batch
    total = 0
    while True:
        async with runtime.unit_of_work() as uow:
            done = await service.recompute(uow, limit=limit)
        total += done
        if done < limit:
            return total
