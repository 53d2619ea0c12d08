"""Time-driven survey work: the timer that sends each scheduled survey when it falls due and
reminds each unanswered one once."""

from __future__ import annotations

from datetime import datetime

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.unit import FeedbackRuntime
from ticketloop_shared.scheduler import Batch, Scheduler

SCHEDULE = Scheduler[FeedbackSettings]()


async def next_due(runtime: FeedbackRuntime) -> datetime | None:
    """The earliest instant a survey is due to go out or be reminded (read through the due-time
    indexes)."""
    async with runtime.sessions() as session:
        return await service.next_due(session, runtime.settings)


@SCHEDULE.due(
    name="survey-timer",
    next_due=next_due,
    max_idle=lambda s: s.survey_timer_max_idle_seconds,
    # Due, yet nothing was done: its row is locked elsewhere, or it failed (logged): look again
    # after the longest idle rather than spin on it.
    idle_when_stuck=lambda s: s.survey_timer_max_idle_seconds,
    enabled=lambda s: s.survey_timer_enabled,
)
async def send_and_remind(runtime: FeedbackRuntime) -> Batch:
    """Send every survey due now and remind every one unanswered past the delay, in one
    transaction.

    All the timer's state is in the database, so a restart loses nothing and sends nothing
    twice. It never sleeps longer than `survey_timer_max_idle_seconds`, so a survey another
    replica (or an injected test clock) made due earlier is still seen within that much."""
    async with runtime.unit_of_work() as uow:
        done, full = await service.send_and_remind(uow, limit=runtime.settings.survey_timer_batch)
    return Batch(done, full)


@SCHEDULE.every(name="seal-clear-texts", seconds=lambda s: s.seal_clear_texts_seconds)
async def seal_clear_texts(runtime: FeedbackRuntime) -> int:
    """Seal the texts answered before sealing began, a batch per transaction until none is left
    (after the upgrade that began sealing; then each run finds none through a partial index)."""
    sealed = 0
    while True:
        async with runtime.unit_of_work() as uow:
            done, full = await service.seal_clear_texts(uow, limit=runtime.settings.survey_timer_batch)
        sealed += done
        if not full:
            return sealed
