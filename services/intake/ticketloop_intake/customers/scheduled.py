"""Time-driven work of customers' keys: erasures made by any intake process reach this one."""

from __future__ import annotations

from ticketloop_intake.customers.service import ERASURES_NOTICE, ERASURES_SEEN
from ticketloop_intake.customers.service import drop_erased_keys as drop_erased
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.scheduler import Batch, Scheduler, never_due

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.due(
    name="drop-erased-keys",
    next_due=never_due,
    max_idle=lambda s: s.platform.notice_safety_net_seconds,
    wake=ERASURES_SEEN,
    notice=ERASURES_NOTICE,
)
async def drop_erased_keys(runtime: IntakeRuntime) -> Batch:
    """Forget the cached keys of customers erased lately, so an erasure made through another
    process holds here as soon as its notice arrives (the re-read every safety-net interval
    covers a lost one); how many were new."""
    fresh = await drop_erased(runtime.state, runtime.engine, runtime.clock.now())
    return Batch(fresh, full=False)
