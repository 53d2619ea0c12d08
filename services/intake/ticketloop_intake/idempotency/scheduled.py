"""Time-driven idempotency work: keys are kept for a setting's hours, then forgotten."""

from __future__ import annotations

from datetime import timedelta

from ticketloop_intake.idempotency.service import purge_expired
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.db import transaction
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.every(name="forget-idempotency-keys", seconds=600)
async def forget_old_keys(runtime: IntakeRuntime) -> int:
    """Forget the keys older than `idempotency_ttl_hours`; how many."""
    ttl = timedelta(hours=runtime.settings.idempotency_ttl_hours)
    async with transaction(runtime.sessions) as session:
        return await purge_expired(session, now=runtime.clock.now(), ttl=ttl)
