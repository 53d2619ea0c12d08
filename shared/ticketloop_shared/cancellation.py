"""Keeping a cancellation a cancellation in long-running loops.

A service stops by cancelling its background tasks and awaiting them. Two ways a task can lose
that cancellation and run on, holding the stop for ever (a service's shutdown hung for three
minutes in CI):

- on Python 3.11, `asyncio.wait_for` returns normally when the awaited operation finishes just
  as the cancellation arrives (fixed in 3.12): a loop that waited for its wake-up event that way
  goes round again. Waits here use `wait_for_event` or `asyncio.timeout` instead;
- a driver's clean-up on the way out (rolling back on a connection whose query was interrupted)
  can raise an error of its own, which replaces the `CancelledError`: a loop that retries on
  `Exception` carries on.

So every long-running loop calls `stop_if_cancelled` at the top of each round and first thing in
its `except Exception`: the task's own count of pending cancellations (`Task.cancelling`)
survives both.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise `CancelledError` if this task has been asked to stop, whatever was raised instead."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


async def wait_for_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set or `seconds` pass; whether it was set.

    Not `asyncio.wait_for(event.wait(), ...)`: on Python 3.11 that can swallow a cancellation
    arriving just as the event is set, and a loop that then sleeps for the safety net's hour
    holds up its service's shutdown."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()
    return event.is_set()
