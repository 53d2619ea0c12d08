"""A service's background loops stop when cancelled, however the cancellation arrives.

The stop of a service cancels its loops and awaits them; a loop that lost its cancellation held
a service's shutdown for three minutes in CI."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

import pytest

from ticketloop_shared.cancellation import stop_if_cancelled, wait_for_event


async def cancel_as_woken(task: asyncio.Task[None], wake: asyncio.Event) -> None:
    """The race of a stop: the loop's event is set, its waiter finishes, and only then, before
    the loop's task runs again, the cancellation arrives."""
    await asyncio.sleep(0.05)  # the loop is waiting
    wake.set()
    await asyncio.sleep(0)  # the waiter finishes and wakes the loop's task (not run yet)
    task.cancel()


class Rounds:
    """A loop's rounds, and a way out for the loops that lost their cancellation."""

    def __init__(self) -> None:
        self.count = 0
        self.halted = False

    def next(self) -> None:
        if self.halted:
            raise RuntimeError("halted by the test")
        self.count += 1


async def rounds_after_cancel(loop: asyncio.Task[None], rounds: Rounds, wake: asyncio.Event | None = None) -> int:
    """How many rounds the loop began after being cancelled (it is given a second, then halted)."""
    before = rounds.count
    done, _ = await asyncio.wait({loop}, timeout=1.0)
    if not done:
        rounds.halted = True
        if wake is not None:
            wake.set()
        with pytest.raises(RuntimeError):
            await loop
        return rounds.count - before
    assert loop.cancelled()
    return 0


async def wait_for(wake: asyncio.Event) -> None:
    """How the relay waited for its wake-up before."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=30)


async def rounds_of_a_loop_cancelled_as_it_is_woken(
    wait: Callable[[asyncio.Event], Awaitable[object]], *, check_each_round: bool
) -> int:
    """A loop that waits for its wake-up with `wait` (and checks for a cancellation at the top of
    each round, or not), cancelled just as it is woken: the rounds it ran after that."""
    wake = asyncio.Event()
    rounds = Rounds()

    async def loop() -> None:
        while True:
            if check_each_round:
                stop_if_cancelled()
            rounds.next()
            wake.clear()
            await wait(wake)

    task = asyncio.create_task(loop())
    await cancel_as_woken(task, wake)
    return await rounds_after_cancel(task, rounds, wake)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 fixed asyncio.wait_for")
async def test_wait_for_loses_a_cancellation_arriving_as_its_event_is_set() -> None:
    """The hazard itself, so the tests below are known to exercise it."""
    assert await rounds_of_a_loop_cancelled_as_it_is_woken(wait_for, check_each_round=False) > 0


async def test_a_loop_waiting_with_wait_for_event_stops_when_cancelled_as_it_is_woken() -> None:
    async def wait(wake: asyncio.Event) -> bool:
        return await wait_for_event(wake, 30)

    assert await rounds_of_a_loop_cancelled_as_it_is_woken(wait, check_each_round=False) == 0


async def test_a_loop_checking_at_the_top_of_each_round_stops_even_if_a_wait_swallowed_the_cancellation() -> None:
    assert await rounds_of_a_loop_cancelled_as_it_is_woken(wait_for, check_each_round=True) == 0


class ConnectionBroken(Exception):
    """What a driver's clean-up raises in place of the cancellation it was interrupted by."""


async def query_whose_cleanup_replaces_the_cancellation() -> None:
    try:
        await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        raise ConnectionBroken("cannot perform operation: another operation is in progress") from None


async def test_a_retry_loop_stops_when_a_cancellation_is_replaced_by_another_error() -> None:
    rounds = Rounds()

    async def loop(guarded: bool) -> None:
        while True:
            rounds.next()
            try:
                await query_whose_cleanup_replaces_the_cancellation()
            except Exception as exc:
                if guarded:
                    stop_if_cancelled(exc)
                await asyncio.sleep(0.01)

    unguarded = asyncio.create_task(loop(guarded=False))
    await asyncio.sleep(0.05)
    unguarded.cancel()
    assert await rounds_after_cancel(unguarded, rounds) > 0, "the hazard: the cancellation was lost"

    rounds = Rounds()
    guarded = asyncio.create_task(loop(guarded=True))
    await asyncio.sleep(0.05)
    guarded.cancel()
    assert await rounds_after_cancel(guarded, rounds) == 0
    with pytest.raises(asyncio.CancelledError):
        await guarded


def test_outside_a_cancelled_task_nothing_is_raised() -> None:
    async def main() -> None:
        stop_if_cancelled(ValueError("ordinary failure"))

    asyncio.run(main())
