"""Time-driven work of channel keys: changes made through any intake process reach this one's
key cache, and the keys' last-used times reach the database, without a write per request."""

from __future__ import annotations

from ticketloop_intake.channels import service
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.scheduler import Batch, Scheduler, never_due

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.due(
    name="forget-changed-channel-keys",
    next_due=never_due,
    max_idle=lambda s: s.platform.notice_safety_net_seconds,
    wake=service.KEYS_CHANGED,
    notice=service.KEYS_NOTICE,
)
async def forget_changed_keys(runtime: IntakeRuntime) -> Batch:
    """Forget the cached keys of clients changed lately, so a revoked key, or a deactivated
    client's, is refused here as soon as the change's notice arrives (the re-read every
    safety-net interval covers a lost one); how many were new."""
    fresh = await service.forget_changed_keys(runtime.state, runtime.engine)
    return Batch(fresh, full=False)


@SCHEDULE.every(name="channel-keys-last-used", seconds=lambda s: s.channel_key_last_used_seconds)
async def record_last_used(runtime: IntakeRuntime) -> int:
    """Write when each key this process accepted was last used; how many keys."""
    return await service.flush_last_used(runtime.state, runtime.engine)
