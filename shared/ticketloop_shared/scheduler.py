"""One registration API for time-driven work, in the manner of dispatch's `scheduler.add`.

Every timer of a feature is declared in its `scheduled.py` on that feature's `Scheduler`; the
service's `app.py` joins its features' schedulers into the one its `ServiceSpec` runs. Two shapes
cover every timer we have:

    SCHEDULE = Scheduler[SlaSettings]()

    @SCHEDULE.every(name="recompute", seconds=lambda s: s.recompute_seconds)
    async def recompute(runtime: Runtime[SlaSettings]) -> int: ...

    @SCHEDULE.due(name="timer", next_due=next_due, max_idle=lambda s: s.timer_max_idle_seconds,
                  enabled=lambda s: s.timer_enabled)
    async def fire(runtime: Runtime[SlaSettings]) -> Batch: ...

`every` is a sweep: run, sleep `seconds`, run again. `due` is for work that knows when it is
next needed: run a batch of what is due, and when the batch was not full sleep until the next
due instant, never longer than `max_idle` (so a row another replica, or an injected test clock,
made due earlier is still seen within it). A `due` job may also be woken by a change notice
(`notice=`, see `notices`): another process committed a change it must apply, so `max_idle`
is only the slow safety net under the notices. Either way one failing run is logged and the next
goes on; a loop that dies anyway is reported by readiness (the runtime runs each as a task).
The decorated function is returned unchanged, so a test calls it directly with a runtime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ticketloop_shared.cancellation import stop_if_cancelled, wait_for_event
from ticketloop_shared.settings import ServiceSettings
from ticketloop_shared.state import Slot

if TYPE_CHECKING:
    from ticketloop_shared.runtime import Runtime

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class Batch:
    """What one batch of a due-time job did: how many rows, and whether it stopped at its limit
    (more may be due, so the next batch runs at once)."""

    done: int
    full: bool


def _resolve(value: float | Callable[[S], float], settings: S) -> float:
    return value(settings) if callable(value) else value


@dataclass(frozen=True)
class _Every(Generic[S]):
    name: str
    run: Callable[[Runtime[S]], Awaitable[object]]
    seconds: float | Callable[[S], float]
    enabled: Callable[[S], bool] | None

    async def loop(self, runtime: Runtime[S]) -> None:
        interval = _resolve(self.seconds, runtime.settings)
        while True:
            stop_if_cancelled()
            try:
                await self.run(runtime)
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("periodic job failed", extra={"job": self.name, "error": repr(exc)})
            await asyncio.sleep(interval)


@dataclass(frozen=True)
class _Due(Generic[S]):
    name: str
    run: Callable[[Runtime[S]], Awaitable[Batch]]
    next_due: Callable[[Runtime[S]], Awaitable[datetime | None]]
    max_idle: float | Callable[[S], float]
    idle_when_stuck: float | Callable[[S], float] | None
    enabled: Callable[[S], bool] | None
    wake: Slot[asyncio.Event] | None = None
    linger: float | Callable[[S], float] = 0.0
    notice: str | None = None

    async def loop(self, runtime: Runtime[S]) -> None:
        """Forever: run a batch, then wait for the next due instant.

        A due row that nothing could be done with (locked by a consumer changing it, or failing
        and pushed back by its batch) would make the wait zero: it waits `idle_when_stuck`
        instead (by default a hundredth of a second; a job whose stuck rows stay due says
        `max_idle`)."""
        max_idle = _resolve(self.max_idle, runtime.settings)
        stuck = 0.01 if self.idle_when_stuck is None else _resolve(self.idle_when_stuck, runtime.settings)
        woken = runtime.state[self.wake] if self.wake is not None else None
        linger = _resolve(self.linger, runtime.settings)
        while True:
            stop_if_cancelled()
            try:
                if woken is not None:
                    woken.clear()  # what is committed from here on is seen by this batch
                batch = await self.run(runtime)
                if batch.full:
                    continue
                next_at = await self.next_due(runtime)
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("due-time job failed; retrying", extra={"job": self.name, "error": repr(exc)})
                await asyncio.sleep(min(1.0, max_idle))
                continue
            idle = max_idle
            if next_at is not None:
                idle = min(idle, max(0.0, (next_at - runtime.clock.now()).total_seconds()))
            if idle == 0 and batch.done == 0:
                idle = stuck
            if idle > 0:
                await _sleep(idle, woken, linger)


async def _sleep(seconds: float, woken: asyncio.Event | None, linger: float) -> None:
    """Sleep `seconds`, or until `woken` is set and then `linger` more (what else commits
    meanwhile goes in the same batch)."""
    if woken is None:
        await asyncio.sleep(seconds)
        return
    if await wait_for_event(woken, seconds) and linger > 0:
        await asyncio.sleep(linger)


async def never_due(_runtime: Runtime[Any]) -> datetime | None:
    """`next_due` of a job nothing makes due by time: its wake (a change notice) runs it, its
    `max_idle` is the safety net."""
    return None


class Scheduler(Generic[S]):
    """The timers of one feature (or, joined with `of`, of one service), by name."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Every[S] | _Due[S]] = {}

    @classmethod
    def of(cls, *parts: Scheduler[S]) -> Scheduler[S]:
        """One service's scheduler: the jobs of its features' schedulers."""
        joined = cls()
        for part in parts:
            for job in part._jobs.values():
                joined._add(job)
        return joined

    def every(
        self,
        *,
        name: str,
        seconds: float | Callable[[S], float],
        enabled: Callable[[S], bool] | None = None,
    ) -> Callable[[Callable[[Runtime[S]], Awaitable[R]]], Callable[[Runtime[S]], Awaitable[R]]]:
        """Run the decorated job every `seconds` (a number, or read from the settings); not at all
        when `enabled` says no for the settings."""

        def register(run: Callable[[Runtime[S]], Awaitable[R]]) -> Callable[[Runtime[S]], Awaitable[R]]:
            self._add(_Every(name=name, run=run, seconds=seconds, enabled=enabled))
            return run

        return register

    def due(
        self,
        *,
        name: str,
        next_due: Callable[[Runtime[S]], Awaitable[datetime | None]],
        max_idle: float | Callable[[S], float],
        idle_when_stuck: float | Callable[[S], float] | None = None,
        enabled: Callable[[S], bool] | None = None,
        wake: Slot[asyncio.Event] | None = None,
        linger: float | Callable[[S], float] = 0.0,
        notice: str | None = None,
    ) -> Callable[[Callable[[Runtime[S]], Awaitable[Batch]]], Callable[[Runtime[S]], Awaitable[Batch]]]:
        """Run the decorated batch whenever something is due: again at once when it came back
        full, else at `next_due` (None: nothing is), waiting at most `max_idle` seconds, or
        until the process sets its `wake` event (it committed rows that are due now) and then
        `linger` seconds, so that a busy process sends batches, not rows one by one. With a
        `notice` channel (and a `wake` slot), a change notice on it from any process of the
        service sets `wake` too."""
        if notice is not None and wake is None:
            raise ValueError("a job woken by a notice needs a wake slot")

        def register(run: Callable[[Runtime[S]], Awaitable[Batch]]) -> Callable[[Runtime[S]], Awaitable[Batch]]:
            self._add(
                _Due(
                    name=name,
                    run=run,
                    next_due=next_due,
                    max_idle=max_idle,
                    idle_when_stuck=idle_when_stuck,
                    enabled=enabled,
                    wake=wake,
                    linger=linger,
                    notice=notice,
                )
            )
            return run

        return register

    def _add(self, job: _Every[S] | _Due[S]) -> None:
        if job.name in self._jobs:
            raise ValueError(f"a job named {job.name!r} is already scheduled")
        self._jobs[job.name] = job

    def names(self) -> list[str]:
        """The names of every job declared (enabled or not)."""
        return list(self._jobs)

    def notices(self, settings: S) -> list[tuple[str, Slot[asyncio.Event]]]:
        """The notice channels of the enabled jobs, with the wake slot each notice sets."""
        return [
            (job.notice, job.wake)
            for job in self._jobs.values()
            if isinstance(job, _Due)
            and job.notice is not None
            and job.wake is not None
            and (job.enabled is None or job.enabled(settings))
        ]

    def loops(self, runtime: Runtime[S]) -> dict[str, Coroutine[Any, Any, None]]:
        """The loop of each job the runtime's settings enable, by name, for it to run as tasks."""
        return {
            name: job.loop(runtime)
            for name, job in self._jobs.items()
            if job.enabled is None or job.enabled(runtime.settings)
        }

    def __len__(self) -> int:
        return len(self._jobs)
