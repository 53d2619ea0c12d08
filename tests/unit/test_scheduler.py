"""The one registration API for timers (`Scheduler`) and the runtime's per-process state, without
a database: which jobs run, how long a due-time job sleeps, and that a failing run is retried."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from tests.builders import T0
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.scheduler import Batch, Scheduler
from ticketloop_shared.settings import ServiceSettings
from ticketloop_shared.state import ProcessState, Slot


class Settings(ServiceSettings):
    every_seconds: float = 0.01
    max_idle: float = 5.0
    timer_enabled: bool = True


@dataclass
class FakeRuntime:
    """What a job's loop reads from its runtime: settings and clock."""

    settings: Settings
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(T0))


def runtime(**values: Any) -> Runtime[Settings]:
    return cast(Runtime[Settings], FakeRuntime(Settings(**values)))


async def run_for(loop: Any, seconds: float) -> None:
    task = asyncio.ensure_future(loop)
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_job_disabled_by_a_setting_gets_no_loop_and_names_stay_unique() -> None:
    schedule = Scheduler[Settings]()

    @schedule.every(name="sweep", seconds=1)
    async def sweep(_: Runtime[Settings]) -> None: ...

    @schedule.due(name="timer", next_due=lambda _: _none(), max_idle=1, enabled=lambda s: s.timer_enabled)
    async def timer(_: Runtime[Settings]) -> Batch:
        return Batch(0, False)

    joined = Scheduler.of(schedule)
    assert joined.names() == ["sweep", "timer"]
    loops = joined.loops(runtime(timer_enabled=False))
    assert list(loops) == ["sweep"]
    for loop in loops.values():
        loop.close()  # a coroutine never started
    with pytest.raises(ValueError, match="already scheduled"):
        Scheduler.of(schedule, schedule)


async def _none() -> datetime | None:
    return None


async def test_a_periodic_job_reads_its_interval_from_the_settings_and_outlives_a_failing_run() -> None:
    schedule = Scheduler[Settings]()
    runs: list[int] = []

    @schedule.every(name="sweep", seconds=lambda s: s.every_seconds)
    async def sweep(_: Runtime[Settings]) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("one bad run")

    [loop] = schedule.loops(runtime(every_seconds=0.01)).values()
    await run_for(loop, 0.2)
    assert len(runs) >= 3  # the first run failed, the next went on


async def test_a_due_job_runs_again_at_once_when_full_and_sleeps_until_the_next_due_instant() -> None:
    schedule = Scheduler[Settings]()
    batches: list[Batch] = [Batch(10, True), Batch(3, False)]
    calls: list[datetime] = []
    rt = runtime(max_idle=5.0)

    async def next_due(_: Runtime[Settings]) -> datetime | None:
        return T0 + timedelta(seconds=0.15)  # due 0.15 s after the frozen now

    @schedule.due(name="timer", next_due=next_due, max_idle=lambda s: s.max_idle)
    async def fire(_: Runtime[Settings]) -> Batch:
        calls.append(rt.clock.now())
        return batches.pop(0) if batches else Batch(0, False)

    [loop] = schedule.loops(rt).values()
    await run_for(loop, 0.1)
    assert len(calls) == 2  # the full batch was followed at once; then it sleeps 0.15 s


async def test_a_failing_due_batch_is_retried_after_at_most_a_second() -> None:
    schedule = Scheduler[Settings]()
    calls: list[int] = []

    @schedule.due(name="timer", next_due=lambda _: _none(), max_idle=0.02)
    async def fire(_: Runtime[Settings]) -> Batch:
        calls.append(1)
        raise RuntimeError("database away")

    [loop] = schedule.loops(runtime()).values()
    await run_for(loop, 0.15)
    assert len(calls) >= 3


def test_process_state_makes_each_slot_once_and_resets() -> None:
    slot = Slot("numbers", list[int])
    state = ProcessState()
    state[slot].append(1)
    assert state[slot] == [1]
    assert ProcessState()[slot] == []  # another runtime's state is its own
    state.reset(slot)
    assert state[slot] == []


def test_the_jobs_woken_by_notices_are_listed_with_their_wake_slot_when_enabled() -> None:
    schedule = Scheduler[Settings]()
    changed = Slot("changed", asyncio.Event)

    @schedule.due(name="cache", next_due=lambda _: _none(), max_idle=60, wake=changed, notice="cache_changed")
    async def cache(_: Runtime[Settings]) -> Batch:
        return Batch(0, False)

    @schedule.due(
        name="off", next_due=lambda _: _none(), max_idle=60, wake=changed, notice="off", enabled=lambda s: False
    )
    async def off(_: Runtime[Settings]) -> Batch:
        return Batch(0, False)

    assert schedule.notices(Settings()) == [("cache_changed", changed)]
    with pytest.raises(ValueError, match="wake slot"):
        schedule.due(name="bad", next_due=lambda _: _none(), max_idle=1, notice="x")


async def test_a_job_woken_by_its_slot_runs_again_long_before_its_safety_net() -> None:
    changed = Slot("changed", asyncio.Event)
    runs: list[int] = []
    schedule = Scheduler[Settings]()

    @schedule.due(name="cache", next_due=lambda _: _none(), max_idle=3600, wake=changed, notice="c")
    async def cache(_: Runtime[Settings]) -> Batch:
        runs.append(1)
        return Batch(0, False)

    fake = FakeRuntime(Settings())
    state = ProcessState()
    fake.state = state  # type: ignore[attr-defined]
    task = asyncio.ensure_future(schedule.loops(cast(Runtime[Settings], fake))["cache"])
    await asyncio.sleep(0.05)
    assert len(runs) == 1
    state[changed].set()
    await asyncio.sleep(0.05)
    assert len(runs) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
