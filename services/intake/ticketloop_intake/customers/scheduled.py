"""Time-driven work of customers' keys: erasures made by any intake process reach this one."""

from __future__ import annotations

from ticketloop_intake.customers.service import drop_erased_keys as drop_erased
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.every(name="drop-erased-keys", seconds=1)
async def drop_erased_keys(runtime: IntakeRuntime) -> int:
    """Forget the cached keys of customers erased lately, so an erasure made through another
    process holds here within about a second; how many were new."""
    return await drop_erased(runtime.state, runtime.engine, runtime.clock.now())
