"""Time-driven work of counter queues: the apology/care action for a wait past the limit."""

from __future__ import annotations

import logging
from datetime import timedelta

from ticketloop_intake.counters import domain, repository
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.events import CareWaitExceededData
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def raise_wait_exceeded(uow: UnitOfWork[IntakeSettings], *, limit: int = 500) -> int:
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
        entry_id = entry.id  # readable even after a rolled-back savepoint
        try:
            async with session.begin_nested():
                marker = len(uow.events)
                try:
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
                    await uow.flush_events()
                except Exception:
                    del uow.events[marker:]
                    raise
        except Exception:
            log.exception("wait-exceeded check failed for one queue entry; skipped", extra={"entry_id": str(entry_id)})
            continue
        raised += 1
    return raised


async def sweep_wait_exceeded(runtime: Runtime[IntakeSettings]) -> int:
    """One wait-exceeded sweep at the runtime's (injectable) now, in its own transaction."""
    async with runtime.unit_of_work() as uow:
        return await raise_wait_exceeded(uow)
