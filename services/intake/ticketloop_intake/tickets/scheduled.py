"""Time-driven ticket work: a resolved ticket the customer neither confirms nor reopens closes
by itself after `auto_close_days`; customers stored before pseudonymous ids are re-keyed."""

from __future__ import annotations

from datetime import datetime, timedelta

from ticketloop_intake.customers import service as customers
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import lifecycle, repository
from ticketloop_intake.tickets.domain import Action, fingerprint
from ticketloop_intake.unit import IntakeRuntime, IntakeUnit
from ticketloop_shared.events import TicketClosedData
from ticketloop_shared.scheduler import Batch, Scheduler
from ticketloop_shared.state import Slot

SCHEDULE = Scheduler[IntakeSettings]()


async def close_unconfirmed(uow: IntakeUnit) -> int:
    """Close the resolved tickets whose confirmation window has passed; returns how many.

    Each ticket closes inside its own savepoint, so one that fails is logged and skipped and the
    rest still commit (STYLE rule 14). Rows are locked with SKIP LOCKED: two replicas sweeping at
    once close each ticket once.
    """
    session, now = uow.session, uow.now()
    cutoff = now - timedelta(days=uow.settings.auto_close_days)
    closed = 0
    for ticket in await repository.lock_resolved_before(session, cutoff, limit=uow.settings.sweep_batch):
        async with uow.isolated("auto-close of a ticket", ticket_id=ticket.id) as item:
            lifecycle.move(uow, ticket, Action.AUTO_CLOSE, actor="system")
            ticket.closed_at = now
            await lifecycle.add_entry(uow, ticket, "closed", "system", note="closed: not confirmed in time")
            uow.emit(
                TicketClosedData(
                    **lifecycle.ticket_ref(ticket),
                    closed_at=now,
                    resolved_at=ticket.resolved_at,
                    automatic=True,
                    actor="system",
                )
            )
        if not item.failed:
            closed += 1
    return closed


async def next_auto_close(runtime: IntakeRuntime) -> datetime | None:
    """When the longest-resolved ticket's confirmation window runs out."""
    async with runtime.sessions() as session:
        resolved_at = await repository.earliest_resolved(session)
    return None if resolved_at is None else resolved_at + timedelta(days=runtime.settings.auto_close_days)


@SCHEDULE.due(
    name="auto-close",
    next_due=next_auto_close,
    max_idle=lambda s: s.auto_close_interval_seconds,
    # A due ticket that failed (logged) or another replica holds stays due: look again after the
    # longest idle rather than spin on it.
    idle_when_stuck=lambda s: s.auto_close_interval_seconds,
)
async def auto_close(runtime: IntakeRuntime) -> Batch:
    """Close what is due, in one transaction, each ticket isolated."""
    async with runtime.unit_of_work() as uow:
        closed = await close_unconfirmed(uow)
    return Batch(closed, closed >= runtime.settings.sweep_batch)


class _Rekeying:
    """Whether this process found no customer left to re-key."""

    def __init__(self) -> None:
        self.done = False


_REKEYING = Slot("customer re-keying", _Rekeying)


@SCHEDULE.every(name="rekey-customers", seconds=30)
async def rekey_customers(runtime: IntakeRuntime) -> int:
    """Move customers still stored under their channel's reference (tickets written before
    pseudonyms) to their pseudonym, a batch per run, each in its own transaction, until none is
    left; idempotent, and a replica running it at the same time meets the row locks and finds
    nothing to do. Once a run finds none, this process stops looking (tickets are written under
    pseudonyms only, so none can appear but from a replica of the previous version; the next
    start of any replica re-keys those). Here, not in customers, because a ticket's repeat-contact
    fingerprint is keyed with the customer's key and is tickets' rule."""
    progress = runtime.state[_REKEYING]
    if progress.done:
        return 0

    def refingerprint(subject: str, key: bytes) -> str:
        return fingerprint(subject, key=key)

    moved = await customers.rekey_legacy_customers(runtime.sessions, runtime.settings, fingerprint=refingerprint)
    progress.done = moved == 0
    return moved
