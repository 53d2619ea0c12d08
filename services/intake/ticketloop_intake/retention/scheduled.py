"""The retention job: rarely (hourly by default), in small batches, so it never holds long locks."""

from __future__ import annotations

from ticketloop_intake.retention.service import CLASSES
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared import retention
from ticketloop_shared.retention import ClassReport
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.every(name="retention", seconds=lambda s: s.retention_interval_seconds, enabled=lambda s: s.retention_enabled)
async def apply_retention(runtime: IntakeRuntime) -> list[ClassReport]:
    """Erase or delete what is past its limit, class by class; what was done."""
    return await retention.apply(
        runtime.sessions,
        CLASSES,
        runtime.settings,
        service="intake",
        now=runtime.clock.now(),
        batch=runtime.settings.retention_batch,
    )
