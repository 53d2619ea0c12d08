"""Time-driven work of the review: the weekly hot-category check."""

from __future__ import annotations

import logging

from ticketloop_retrospective.rectification import service
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveRuntime
from ticketloop_shared.scheduler import Scheduler

log = logging.getLogger(__name__)

SCHEDULE = Scheduler[RetrospectiveSettings]()


@SCHEDULE.every(name="review-weeks", seconds=lambda s: s.review_check_seconds)
async def review_weeks(runtime: RetrospectiveRuntime) -> None:
    """Look at the last complete week; cheap enough to run every few minutes, so a week is
    reviewed soon after it ends (a replica running it at the same moment opens nothing twice)."""
    async with runtime.unit_of_work() as uow:
        opened = await service.review_last_week(uow)
    for item in opened:
        log.info("rectification opened", extra={"item": str(item.id), "category": item.category})
