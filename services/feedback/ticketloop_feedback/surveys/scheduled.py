"""Time-driven survey work: the timer that sends each scheduled survey when it falls due and
reminds each unanswered one once."""

from __future__ import annotations

import logging
from datetime import datetime

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_shared.due_timer import Batch, run_due_timer
from ticketloop_shared.runtime import Runtime

log = logging.getLogger(__name__)


class SurveyTimer:
    """Sleeps until the earliest instant a survey is due to go out or be reminded (read through
    the due-time indexes), does everything due then, and goes back to sleep.

    All its state is in the database, so a restart loses nothing and sends nothing twice. It never
    sleeps longer than `survey_timer_max_idle_seconds`, so a survey another replica (or an
    injected test clock) made due earlier is still seen within that much; a full batch is
    followed at once by the next.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings: FeedbackSettings = runtime.settings  # type: ignore[assignment]
        self.sent = 0
        self.reminded = 0

    async def run_once(self) -> service.TimerBatch:
        """One batch in its own transaction."""
        async with self.runtime.unit_of_work() as uow:
            batch = await service.send_and_remind(uow, limit=self.settings.survey_timer_batch)
        self.sent += batch.sent
        self.reminded += batch.reminded
        return batch

    async def next_due(self) -> datetime | None:
        """The earliest instant a survey is due to go out or be reminded."""
        async with self.runtime.sessions() as session:
            return await service.next_due(session, self.settings)

    async def run(self) -> None:
        """Forever: handle what is due, then wait for the next due instant."""

        async def batch() -> Batch:
            done = await self.run_once()
            return Batch(done.sent + done.reminded, done.full)

        await run_due_timer(
            name="survey timer",
            clock=self.runtime.clock,
            run_batch=batch,
            next_due=self.next_due,
            max_idle_seconds=self.settings.survey_timer_max_idle_seconds,
            # Due, yet nothing was done: its row is locked elsewhere, or it failed (logged): look
            # again after the longest idle rather than spin on it.
            idle_when_stuck=self.settings.survey_timer_max_idle_seconds,
        )


async def run_timer(runtime: Runtime) -> None:
    """The survey timer, for as long as the service runs."""
    await SurveyTimer(runtime).run()
