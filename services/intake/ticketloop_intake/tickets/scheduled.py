"""Time-driven ticket work: a resolved ticket the customer neither confirms nor reopens closes
by itself after `auto_close_days`."""

from __future__ import annotations

import logging
from datetime import timedelta

from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import lifecycle, repository
from ticketloop_intake.tickets.domain import Action
from ticketloop_shared.events import TicketClosedData
from ticketloop_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def close_unconfirmed(uow: UnitOfWork[IntakeSettings]) -> int:
    """Close the resolved tickets whose confirmation window has passed; returns how many.

    Each ticket closes inside its own savepoint, so one that fails is logged and skipped and the
    rest still commit (STYLE rule 14). Rows are locked with SKIP LOCKED: two replicas sweeping at
    once close each ticket once.
    """
    session, now = uow.session, uow.now()
    cutoff = now - timedelta(days=uow.settings.auto_close_days)
    closed = 0
    for ticket in await repository.lock_resolved_before(session, cutoff, limit=uow.settings.sweep_batch):
        ticket_id = ticket.id  # readable even after a rolled-back savepoint
        marker = len(uow.events)
        try:
            async with session.begin_nested():
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
                await session.flush()
                await uow.flush_events()
        except Exception:
            del uow.events[marker:]
            log.exception("auto-close failed for one ticket; skipped", extra={"ticket_id": str(ticket_id)})
            continue
        closed += 1
    return closed
