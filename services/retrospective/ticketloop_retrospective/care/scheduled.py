"""Time-driven care work: the timer that makes contacts due when their moment comes."""

from __future__ import annotations

from datetime import datetime

from ticketloop_retrospective.care import repository, service
from ticketloop_retrospective.care.service import CustomerDirectory
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveRuntime
from ticketloop_shared.scheduler import Batch, Scheduler


async def next_due(runtime: RetrospectiveRuntime) -> datetime | None:
    """The earliest contact any schedule has due (read through its index)."""
    async with runtime.sessions() as session:
        return await repository.next_due(session)


def schedule(customers: CustomerDirectory) -> Scheduler[RetrospectiveSettings]:
    """care's timers, reading the customers through `customers`: the service root hands it over
    (`app.py`), since customers depend on care and care never imports them back."""
    timers = Scheduler[RetrospectiveSettings]()

    @timers.due(
        name="care-timer",
        next_due=next_due,
        max_idle=lambda s: s.care_timer_max_idle_seconds,
        enabled=lambda s: s.care_timer_enabled,
    )
    async def fire_due(runtime: RetrospectiveRuntime) -> Batch:
        """One batch of cadence contacts and one of anticipation moments, in one transaction.

        The timer never sleeps longer than `care_timer_max_idle_seconds`, so an anticipation moment
        (which has no index of its own to wake it) or a contact another replica (or an injected test
        clock) made due earlier is seen within that much. Replicas share due schedules by skipping
        the rows another one holds, and an anticipation rule is fired by one replica at a time."""
        limit = runtime.settings.care_timer_batch
        async with runtime.unit_of_work() as uow:
            cadence, more_due = await service.fire_due(uow, customers=customers, limit=limit)
            anticipated, more_moments = await service.fire_anticipation(uow, customers=customers, limit=limit)
        return Batch(cadence + anticipated, more_due or more_moments)

    return timers
