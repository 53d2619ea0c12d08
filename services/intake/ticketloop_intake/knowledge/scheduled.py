"""Time-driven work of the knowledge base: keeping the suggestion guard current."""

from __future__ import annotations

from ticketloop_intake.knowledge import service
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.db import transaction
from ticketloop_shared.scheduler import Scheduler

SCHEDULE = Scheduler[IntakeSettings]()


@SCHEDULE.every(name="knowledge-guard", seconds=lambda s: s.knowledge_guard_seconds)
async def refresh_suggestion_guard(runtime: IntakeRuntime) -> bool:
    """Re-check whether any article is active, so the ticket path never has to ask."""
    async with transaction(runtime.sessions) as session:
        return await service.refresh_guard(session, interval=runtime.settings.knowledge_guard_seconds)
