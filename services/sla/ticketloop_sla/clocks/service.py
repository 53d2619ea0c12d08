"""The rules of SLA clocks. Every met or breached deadline writes its event to the outbox in
the same transaction as the clock change, so the two can never disagree."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.errors import NotFound
from ticketloop_shared.events import (
    ClockKind,
    ClockOutcome,
    EventType,
    SlaBreachedData,
    SlaMetData,
    TicketRef,
    TicketRepliedData,
    TicketResolvedData,
)
from ticketloop_shared.targets import ResponseTargets, deadlines_for
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_sla.clocks import domain, repository
from ticketloop_sla.clocks.models import SlaClock
from ticketloop_sla.clocks.schemas import BreachOut, BreachPage, ClockOut, TicketSlaOut
from ticketloop_sla.settings import SlaSettings

log = logging.getLogger(__name__)

SlaUnit = UnitOfWork[SlaSettings]

_PAYLOADS: dict[EventType, type[SlaMetData] | type[SlaBreachedData]] = {
    EventType.SLA_MET: SlaMetData,
    EventType.SLA_BREACHED: SlaBreachedData,
}


async def start_clocks(session: AsyncSession, *, ticket: TicketRef, targets: ResponseTargets, now: datetime) -> None:
    """Make sure both clocks of a ticket exist; any ticket event may be the first one sla sees."""
    due = deadlines_for(targets, channel=ticket.channel, received_at=ticket.created_at)
    await repository.insert_missing(
        session,
        [
            {
                "ticket_id": ticket.ticket_id,
                "kind": kind.value,
                "ticket_number": ticket.number,
                "channel": ticket.channel,
                "started_at": ticket.created_at,
                "due_at": due_at,
                "status": ClockOutcome.RUNNING.value,
                "updated_at": now,
            }
            for kind, due_at in (
                (ClockKind.FIRST_RESPONSE, due.first_response_due),
                (ClockKind.RESOLUTION, due.resolution_due),
            )
        ],
    )


async def record_reply(uow: SlaUnit, *, data: TicketRepliedData) -> None:
    """The first answer to the customer stops the first-response clock.

    Only the reply intake flags as the first one counts, so a later reply that overtakes it
    on the way here cannot stop the clock at the wrong time.
    """
    await start_clocks(uow.session, ticket=data, targets=uow.settings.targets, now=uow.now())
    if not data.first_response:
        return
    await _stop(uow, ticket_id=data.ticket_id, kind=ClockKind.FIRST_RESPONSE, at=data.replied_at)


async def record_resolution(uow: SlaUnit, *, data: TicketResolvedData) -> None:
    """Resolution stops the resolution clock, and the first-response clock if no reply has yet."""
    await start_clocks(uow.session, ticket=data, targets=uow.settings.targets, now=uow.now())
    # A reply event still on its way must not leave the first-response clock running forever.
    await _stop(
        uow, ticket_id=data.ticket_id, kind=ClockKind.FIRST_RESPONSE, at=data.first_response_at or data.resolved_at
    )
    await _stop(uow, ticket_id=data.ticket_id, kind=ClockKind.RESOLUTION, at=data.resolved_at)


async def check_breaches(uow: SlaUnit, *, limit: int = 500) -> int:
    """Breach the running clocks whose deadline has passed by `now`; returns how many.

    Each clock is changed inside its own savepoint, so one that fails is logged and skipped and
    the rest of the sweep still commits.
    """
    session, now = uow.session, uow.now()
    breached = 0
    for clock in await repository.lock_due(session, now=now, limit=limit):
        ticket_id, kind = clock.ticket_id, clock.kind  # readable even after a rolled-back savepoint
        try:
            async with session.begin_nested():
                change = domain.expire(_state(clock), now=now)
                if change is None:
                    continue
                # No event caused a sweep's breach; the unit of work still correlates it with the ticket.
                marker = len(uow.events)
                try:
                    await _apply(uow, clock, change)
                    await uow.flush_events()
                except Exception:
                    del uow.events[marker:]
                    raise
        except Exception:
            log.exception(
                "breach check failed for one clock; skipped", extra={"ticket_id": str(ticket_id), "clock": kind}
            )
            continue
        breached += 1
    return breached


async def read(session: AsyncSession, ticket_id: uuid.UUID, *, now: datetime) -> TicketSlaOut:
    """The clocks of one ticket as they stand at `now`."""
    clocks = await repository.for_ticket(session, ticket_id)
    if not clocks:
        raise NotFound(f"no SLA clocks for ticket {ticket_id}", code="ticket_not_found")
    return TicketSlaOut(ticket_id=ticket_id, clocks=[_clock_out(clock, now) for clock in clocks])


async def breaches(session: AsyncSession, *, limit: int, offset: int) -> BreachPage:
    """Breached clocks, newest breach first."""
    rows, total = await repository.breached_page(session, limit=limit, offset=offset)
    items = [
        BreachOut(
            ticket_id=c.ticket_id,
            ticket_number=c.ticket_number,
            channel=c.channel,
            clock=ClockKind(c.kind),
            started_at=c.started_at,
            due_at=c.due_at,
            breached_at=c.breached_at or c.due_at,
            stopped_at=c.stopped_at,
        )
        for c in rows
    ]
    return BreachPage(items=items, total=total, limit=limit, offset=offset)


async def _stop(uow: SlaUnit, *, ticket_id: uuid.UUID, kind: ClockKind, at: datetime) -> None:
    clock = await repository.get(uow.session, ticket_id, kind.value, for_update=True)
    if clock is None:  # start_clocks ran in this transaction, so this is a broken invariant
        raise RuntimeError(f"{kind.value} clock of ticket {ticket_id} is missing")
    change = domain.stop(_state(clock), at=at)
    if change is not None:
        await _apply(uow, clock, change)


async def _apply(uow: SlaUnit, clock: SlaClock, change: domain.Change) -> None:
    now = uow.now()
    clock.status = change.status.value
    clock.stopped_at = change.stopped_at
    clock.breached_at = change.breached_at
    clock.updated_at = now
    await uow.session.flush()
    if change.announce is None:
        return
    # The envelope's time is when the fact happened: the stop for a met clock, the deadline for a breach.
    happened = change.breached_at if change.announce == EventType.SLA_BREACHED else change.stopped_at
    uow.emit(
        _PAYLOADS[change.announce](
            ticket_id=clock.ticket_id,
            clock=ClockKind(clock.kind),
            started_at=clock.started_at,
            due_at=clock.due_at,
            stopped_at=clock.stopped_at,
            breached_at=clock.breached_at,
        ),
        time=happened or now,
    )


def _state(clock: SlaClock) -> domain.ClockState:
    return domain.ClockState(
        status=ClockOutcome(clock.status),
        due_at=clock.due_at,
        stopped_at=clock.stopped_at,
        breached_at=clock.breached_at,
    )


def _clock_out(clock: SlaClock, now: datetime) -> ClockOut:
    running = clock.status == ClockOutcome.RUNNING
    return ClockOut(
        clock=ClockKind(clock.kind),
        status=ClockOutcome(clock.status),
        started_at=clock.started_at,
        due_at=clock.due_at,
        stopped_at=clock.stopped_at,
        breached_at=clock.breached_at,
        remaining_seconds=(clock.due_at - now).total_seconds() if running else None,
    )
