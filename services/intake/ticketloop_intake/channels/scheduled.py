"""Time-driven work of channel keys: changes made through any intake process reach this one's
key cache, and the keys' last-used times reach the database, without a write per request."""

from __future__ import annotations

from ticketloop_intake.channels import service
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.every(name="forget-changed-channel-keys", seconds=1)
async def forget_changed_keys(runtime: IntakeRuntime) -> int:
    """Forget the cached keys of clients changed lately, so a revoked key, or a deactivated
    client's, is refused here within about a second of the change anywhere; how many were new."""
    return await service.forget_changed_keys(runtime.state, runtime.engine)


@SCHEDULE.every(name="channel-keys-last-used", seconds=lambda s: s.channel_key_last_used_seconds)
async def record_last_used(runtime: IntakeRuntime) -> int:
    """Write when each key this process accepted was last used; how many keys."""
    return await service.flush_last_used(runtime.state, runtime.engine)
