"""Time-driven work of counter queues: the apology/care action for a wait past the limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketloop_intake.counters import domain, repository
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime, IntakeUnit
from ticketloop_shared.events import CareWaitExceededData
from ticketloop_shared.scheduler import Batch, Scheduler

SCHEDULE = Scheduler[IntakeSettings]()
# The most entries one run announces.
BATCH = 500


async def raise_wait_exceeded(uow: IntakeUnit, *, limit: int = BATCH) -> int:
    """Emit `care.wait_exceeded` once for each waiting number past the wait limit; returns how many.

    Exactly once, even with two replicas sweeping at the same moment: an entry is marked
    (`wait_exceeded_at`) in the transaction that writes its outbox row, the candidates are
    locked with SKIP LOCKED, and a row marked by a sweep that committed meanwhile no longer
    matches when re-checked. Each entry is handled in its own savepoint: one that fails is
    logged and skipped, the sweep goes on. A served or cancelled number is never announced.
    """
    session, now = uow.session, uow.now()
    wait_limit = timedelta(minutes=uow.settings.counter_wait_limit_minutes)
    raised = 0
    for entry in await repository.lock_overdue(session, joined_before=now - wait_limit, limit=limit):
        async with uow.isolated("wait-exceeded check of a queue entry", entry_id=entry.id) as item:
            entry.wait_exceeded_at = now
            await session.flush()
            uow.emit(
                CareWaitExceededData(
                    entry_id=entry.id,
                    counter=entry.counter,
                    number=entry.number,
                    customer_id=entry.customer_id,
                    joined_at=entry.joined_at,
                    waited_seconds=domain.waited(entry.joined_at, until=now).total_seconds(),
                    limit_seconds=wait_limit.total_seconds(),
                ),
                subject=entry.id,
            )
        if not item.failed:
            raised += 1
    return raised


async def next_wait_exceeded(runtime: IntakeRuntime) -> datetime | None:
    """When the longest-waiting number not yet announced passes the wait limit."""
    async with runtime.sessions() as session:
        joined_at = await repository.earliest_unannounced(session)
    return None if joined_at is None else joined_at + timedelta(minutes=runtime.settings.counter_wait_limit_minutes)


@SCHEDULE.due(
    name="counter-wait-exceeded",
    next_due=next_wait_exceeded,
    max_idle=lambda s: s.counter_sweep_seconds,
    # An entry that failed (logged) or another replica holds stays due: look again after the
    # longest idle rather than spin on it.
    idle_when_stuck=lambda s: s.counter_sweep_seconds,
)
async def announce_long_waits(runtime: IntakeRuntime) -> Batch:
    """Announce every wait past the limit, in one transaction, each entry isolated."""
    async with runtime.unit_of_work() as uow:
        raised = await raise_wait_exceeded(uow, limit=BATCH)
    return Batch(raised, raised >= BATCH)
