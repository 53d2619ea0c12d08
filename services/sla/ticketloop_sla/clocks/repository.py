"""All SQL about sla's tickets and clock cycles. A ticket row is the lock of its clocks: every
change to a ticket's cycles happens while its row is locked, by a consumer or by the timer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, any_, bindparam, delete, func, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.events import ClockKind, ClockOutcome
from ticketloop_sla.clocks.models import (
    AppliedEvent,
    CustomerSegment,
    ParkedPlacement,
    SlaClock,
    SlaEscalation,
    SlaTicket,
)
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_slarules.cycles import Cycle

_TICKETS = cast(Table, SlaTicket.__table__)
_CLOCKS = cast(Table, SlaClock.__table__)
TICKET_FIELDS = (
    "number",
    "channel",
    "category",
    "urgency",
    "customer_id",
    "live",
    "origin",
    "segment",
    "need",
    "status",
    "department_id",
    "agent_id",
    "committed_resolution_at",
    "placed_at",
    "created_at",
    "policy_id",
    "rules_version",
    "version",
    "applied_until",
)
# Written by `save`; `version` only by `next_versions` (a publication counts it).
_SAVED_FIELDS = tuple(f for f in TICKET_FIELDS if f != "version")
_CYCLE_FIELDS = tuple(f for f in Cycle.__dataclass_fields__ if f not in ("kind", "cycle"))
_COLUMN_OF = {"calendar": "calendar_id"}

# Compiled once, run with the rows as parameters.
_UPSERT_TICKETS = insert(_TICKETS)
_UPSERT_TICKETS = _UPSERT_TICKETS.on_conflict_do_update(
    index_elements=["ticket_id"],
    set_={
        **{f: _UPSERT_TICKETS.excluded[f] for f in _SAVED_FIELDS},
        "open": _UPSERT_TICKETS.excluded.open,
        "updated_at": _UPSERT_TICKETS.excluded.updated_at,
    },
)
_UPSERT_CLOCKS = insert(_CLOCKS)
_UPSERT_CLOCKS = _UPSERT_CLOCKS.on_conflict_do_update(
    index_elements=["ticket_id", "kind", "cycle"],
    set_={
        c: _UPSERT_CLOCKS.excluded[c]
        for c in [_COLUMN_OF.get(f, f) for f in _CYCLE_FIELDS] + ["policy_id", "updated_at"]
    },
)


# One statement whatever the number of ids (an array parameter, not an expanding IN list).
_IDS = bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True)))
_LOCK = (
    select(*[_TICKETS.c[f] for f in ("ticket_id", *TICKET_FIELDS, "open")])
    .where(_TICKETS.c.ticket_id == any_(_IDS))
    .order_by(_TICKETS.c.ticket_id)
    .with_for_update()
)
_LOCK_SKIPPING = _LOCK.with_for_update(skip_locked=True)
# Through `current_cycles` (migration 0010), planned on each call: a prepared statement's cached
# plan, made while the table was small, scanned the whole of `clocks` ever after. Only the columns
# `cycle_of` reads: the consumer and the timer load every current cycle of each ticket.
_CURRENT = (
    func.current_cycles(_IDS)
    .table_valued("ticket_id", "kind", "cycle", *(_COLUMN_OF.get(f, f) for f in _CYCLE_FIELDS))
    .alias("c")
)
_CURRENT_CYCLES = select(*_CURRENT.c)


def cycle_of(row: Any) -> Cycle:
    """The domain cycle a row holds."""
    return Cycle(
        kind=ClockKind(row.kind),
        cycle=row.cycle,
        status=ClockOutcome(row.status),
        started_at=row.started_at,
        target_seconds=row.target_seconds,
        calendar=row.calendar_id,
        used_seconds=row.used_seconds,
        resumed_at=row.resumed_at,
        paused_at=row.paused_at,
        paused_seconds=row.paused_seconds,
        due_at=row.due_at,
        stopped_at=row.stopped_at,
        breached_at=row.breached_at,
        warned=row.warned,
        escalation_level=row.escalation_level,
        next_at=row.next_at,
        margin_seconds=row.margin_seconds,
        current=row.current,
    )


async def lock(
    session: AsyncSession, ticket_ids: Iterable[uuid.UUID], *, skip_locked: bool = False
) -> dict[uuid.UUID, Ticket]:
    """The tickets with their current cycles, their rows locked (in id order, so two
    transactions locking overlapping sets cannot deadlock); `skip_locked` leaves out rows
    another transaction holds (the timer's way of sharing work)."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    # Core rows, not ORM objects: the timer loads hundreds of tickets a batch.
    stmt = _LOCK_SKIPPING if skip_locked else _LOCK
    rows = (await session.execute(stmt, {"ids": ids})).all()
    tickets: dict[uuid.UUID, Ticket] = {}
    for r in rows:
        t = tickets[r.ticket_id] = Ticket(ticket_id=r.ticket_id, **{f: getattr(r, f) for f in TICKET_FIELDS})
        t.stored = (*(getattr(r, f) for f in _SAVED_FIELDS), r.open)
    if tickets:
        clocks = await session.execute(_CURRENT_CYCLES, {"ids": list(tickets)})
        for c in clocks:
            tickets[c.ticket_id].clocks[ClockKind(c.kind)] = cycle_of(c)
    for t in tickets.values():
        t.changed = False
    return tickets


async def open_tickets_of(session: AsyncSession, customer_ids: Sequence[str]) -> list[uuid.UUID]:
    """Ids of the customers' tickets that still owe something."""
    rows = await session.scalars(
        select(SlaTicket.ticket_id).where(SlaTicket.customer_id.in_(customer_ids), SlaTicket.open)
    )
    return list(rows)


async def segments(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, str]:
    """The known segment of each customer."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(CustomerSegment.customer_id, CustomerSegment.segment).where(CustomerSegment.customer_id.in_(ids))
    )
    return {r.customer_id: r.segment for r in rows}


# One statement for a run's customers (arrays, compiled once); each customer appears once in a
# run (`service.apply` keeps the newest change of each), so the INSERT touches no row twice.
_SET_SEGMENTS = text(
    """
    INSERT INTO customer_segments (customer_id, segment, changed_at)
    SELECT * FROM unnest(CAST(:customers AS varchar[]), CAST(:segments AS varchar[]), CAST(:at AS timestamptz[]))
    ON CONFLICT (customer_id) DO UPDATE SET segment = EXCLUDED.segment, changed_at = EXCLUDED.changed_at
    WHERE customer_segments.changed_at < EXCLUDED.changed_at
    RETURNING customer_id
    """
)


async def set_segments(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> list[str]:
    """Record customers' segments (a change older than the one stored is ignored); returns the
    customers whose segment this changed, in the order of `rows` (one row per customer)."""
    if not rows:
        return []
    result = await session.execute(
        _SET_SEGMENTS,
        {
            "customers": [r["customer_id"] for r in rows],
            "segments": [r["segment"] for r in rows],
            "at": [r["changed_at"] for r in rows],
        },
    )
    changed = set(result.scalars())
    return [c for c in (cast(str, r["customer_id"]) for r in rows) if c in changed]


async def save(session: AsyncSession, tickets: Iterable[Ticket], *, now: datetime) -> None:
    """Write the tickets whose row changed and every cycle they changed or ended, each row once
    as it ends the batch, in two statements."""
    ticket_rows: list[dict[str, Any]] = []
    clock_rows: dict[tuple[uuid.UUID, str, int], dict[str, Any]] = {}
    for t in tickets:
        is_open = any(c.open for c in t.clocks.values()) or t.status not in ("resolved", "closed")
        stored = (*(getattr(t, f) for f in _SAVED_FIELDS), is_open)
        # A timer visit that only warns, or an event that moves no fact, leaves the row as it was.
        if stored != t.stored:
            ticket_rows.append(
                {
                    "ticket_id": t.ticket_id,
                    **{f: getattr(t, f) for f in TICKET_FIELDS},
                    "open": is_open,
                    "updated_at": now,
                }
            )
            t.stored = stored
        # Only what changed: an assignment touches one or two of a ticket's five cycles.
        for c in [*t.ended, *(t.clocks[k] for k in t.dirty)]:
            row = {_COLUMN_OF.get(f, f): getattr(c, f) for f in _CYCLE_FIELDS}
            row.update(
                ticket_id=t.ticket_id,
                kind=c.kind.value,
                cycle=c.cycle,
                status=c.status.value,
                ticket_number=t.number,
                channel=t.channel,
                policy_id=t.policy_id,
                updated_at=now,
            )
            clock_rows[(t.ticket_id, c.kind.value, c.cycle)] = row  # the last state of a cycle wins
        t.ended.clear()
        t.dirty.clear()
    if ticket_rows:
        await session.execute(_UPSERT_TICKETS, ticket_rows)
    if clock_rows:
        await session.execute(_UPSERT_CLOCKS, list(clock_rows.values()))


_NEXT_VERSIONS = (
    update(_TICKETS)
    .where(_TICKETS.c.ticket_id == any_(_IDS))
    .values(version=_TICKETS.c.version + 1)
    .returning(_TICKETS.c.ticket_id, _TICKETS.c.version)
)


async def next_versions(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Count one more publication of each ticket's clocks; returns the new version numbers."""
    rows = await session.execute(_NEXT_VERSIONS, {"ids": list(ticket_ids)})
    return {r.ticket_id: r.version for r in rows}


async def due_tickets(session: AsyncSession, *, now: datetime, limit: int) -> list[uuid.UUID]:
    """Tickets with something due by `now`, earliest first (read through the due-time index)."""
    rows = await session.execute(
        select(SlaClock.ticket_id)
        .where(SlaClock.next_at.is_not(None), SlaClock.next_at <= now)
        .order_by(SlaClock.next_at)
        .limit(limit)
    )
    return list(dict.fromkeys(r.ticket_id for r in rows))


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest instant any cycle needs the timer."""
    return cast(datetime | None, await session.scalar(select(func.min(SlaClock.next_at))))


async def stale(session: AsyncSession, *, version: int, limit: int) -> list[uuid.UUID]:
    """Open tickets whose clocks were set under older rules."""
    rows = await session.scalars(
        select(SlaTicket.ticket_id).where(SlaTicket.open, SlaTicket.rules_version < version).limit(limit)
    )
    return list(rows)


async def cycles_of(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[SlaClock]:
    """Every cycle of a ticket, in metric order then cycle."""
    return (
        await session.scalars(
            select(SlaClock).where(SlaClock.ticket_id == ticket_id).order_by(SlaClock.kind, SlaClock.cycle)
        )
    ).all()


async def ticket(session: AsyncSession, ticket_id: uuid.UUID) -> SlaTicket | None:
    """sla's row of a ticket."""
    return await session.get(SlaTicket, ticket_id)


async def _clock_page(
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    order: tuple[Any, ...],
    *,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[SlaClock, SlaTicket]], int]:
    """A page of cycles with their tickets matching `where`, in `order`, and how many match."""
    joined = and_(*where)
    total = await session.scalar(
        select(func.count())
        .select_from(SlaClock)
        .join(SlaTicket, SlaTicket.ticket_id == SlaClock.ticket_id)
        .where(joined)
    )
    stmt = select(SlaClock, SlaTicket).join(SlaTicket, SlaTicket.ticket_id == SlaClock.ticket_id).where(joined)
    rows = (await session.execute(stmt.order_by(*order).limit(limit).offset(offset))).all()
    return [(r[0], r[1]) for r in rows], int(total or 0)


async def breached_page(
    session: AsyncSession,
    *,
    metric: ClockKind | None,
    department: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[SlaClock, SlaTicket]], int]:
    """A page of breached cycles, newest breach first, and how many match."""
    where = [SlaClock.status == ClockOutcome.BREACHED.value]
    if metric is not None:
        where.append(SlaClock.kind == metric.value)
    if department is not None:
        where.append(SlaTicket.department_id == department)
    if since is not None:
        where.append(SlaClock.breached_at >= since)
    if until is not None:
        where.append(SlaClock.breached_at < until)
    order = (SlaClock.breached_at.desc(), SlaClock.ticket_id.desc(), SlaClock.kind, SlaClock.cycle)
    return await _clock_page(session, where, order, limit=limit, offset=offset)


async def due_page(
    session: AsyncSession,
    *,
    before: datetime,
    department: str | None,
    metric: ClockKind | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[SlaClock, SlaTicket]], int]:
    """Running cycles due before `before`, soonest first (the "about to breach" view)."""
    where = [SlaClock.status == ClockOutcome.RUNNING.value, SlaClock.due_at <= before]
    if department is not None:
        where.append(SlaTicket.department_id == department)
    if metric is not None:
        where.append(SlaClock.kind == metric.value)
    order = (SlaClock.due_at, SlaClock.ticket_id, SlaClock.kind)
    return await _clock_page(session, where, order, limit=limit, offset=offset)


@dataclass(frozen=True)
class EscalationRow:
    """One escalation step reached on one cycle, as kept for the supervisors' list."""

    ticket_id: uuid.UUID
    ticket_number: str
    clock: str
    cycle: int
    level: int
    notify: str
    group: str | None
    share: float
    policy_id: str
    due_at: datetime | None
    agent_id: str | None
    escalated_at: datetime


# Statements compiled once and run with a run's rows as parameters: a VALUES list built per call
# is compiled anew each time (about 0.1 ms of CPU per row, more than the rest of a row's work).
_ADD_ESCALATIONS = insert(SlaEscalation).on_conflict_do_nothing()
_ESCALATION_FIELDS = tuple(EscalationRow.__dataclass_fields__)
_PARK = insert(ParkedPlacement).on_conflict_do_nothing()
_KEEP_APPLIED = insert(AppliedEvent).on_conflict_do_nothing()


async def add_escalations(session: AsyncSession, rows: Sequence[EscalationRow]) -> None:
    """Keep escalation steps; a step already kept (same ticket, metric, cycle, level) stays as it was."""
    if rows:
        await session.execute(_ADD_ESCALATIONS, [{f: getattr(r, f) for f in _ESCALATION_FIELDS} for r in rows])


async def escalations_page(
    session: AsyncSession,
    *,
    department: str | None,
    level: int | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[tuple[SlaEscalation, SlaTicket]], int]:
    """A page of escalation steps with their tickets (for the ticket's current department), newest
    first, and how many match."""
    where: list[ColumnElement[bool]] = []
    if department is not None:
        where.append(SlaTicket.department_id == department)
    if level is not None:
        where.append(SlaEscalation.level == level)
    if since is not None:
        where.append(SlaEscalation.escalated_at >= since)
    joined = and_(true(), *where)
    base = select(SlaEscalation, SlaTicket).join(SlaTicket, SlaTicket.ticket_id == SlaEscalation.ticket_id)
    total = await session.scalar(
        select(func.count())
        .select_from(SlaEscalation)
        .join(SlaTicket, SlaTicket.ticket_id == SlaEscalation.ticket_id)
        .where(joined)
    )
    order = (SlaEscalation.escalated_at.desc(), SlaEscalation.ticket_id, SlaEscalation.clock, SlaEscalation.level)
    rows = (await session.execute(base.where(joined).order_by(*order).limit(limit).offset(offset))).all()
    return [(r[0], r[1]) for r in rows], int(total or 0)


# --- Placements waiting for their ticket -----------------------------------------------------


async def park(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Keep placements (routing's events) of tickets sla has not seen yet, once each."""
    if rows:
        await session.execute(_PARK, list(rows))


async def unpark(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Take the placements parked for these tickets (their events as they came)."""
    if not ticket_ids:
        return []
    rows = await session.scalars(
        delete(ParkedPlacement).where(ParkedPlacement.ticket_id.in_(list(ticket_ids))).returning(ParkedPlacement.event)
    )
    return list(rows)


# --- Each ticket's applied events, to rebuild its clocks in time order -----------------------


@dataclass(frozen=True)
class Applied:
    """An event as applied to a ticket's clocks: as it came, and when sla applied it."""

    event: dict[str, Any]
    occurred_at: datetime
    arrived_at: datetime


async def keep_applied(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add events to their tickets' histories (one statement for a run; an event kept once)."""
    if rows:
        await session.execute(_KEEP_APPLIED, list(rows))


async def applied(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Applied]]:
    """The tickets' histories, each in the order sla applied the events."""
    if not ticket_ids:
        return {}
    rows = await session.execute(
        select(AppliedEvent.ticket_id, AppliedEvent.event, AppliedEvent.occurred_at, AppliedEvent.arrived_at)
        .where(AppliedEvent.ticket_id.in_(list(ticket_ids)))
        .order_by(AppliedEvent.id)
    )
    out: dict[uuid.UUID, list[Applied]] = {}
    for r in rows:
        out.setdefault(r.ticket_id, []).append(Applied(r.event, r.occurred_at, r.arrived_at))
    return out


async def all_cycles(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Cycle]]:
    """Every stored cycle (current or ended) of the tickets."""
    if not ticket_ids:
        return {}
    out: dict[uuid.UUID, list[Cycle]] = {}
    for row in await session.execute(select(_CLOCKS).where(_CLOCKS.c.ticket_id.in_(list(ticket_ids)))):
        out.setdefault(row.ticket_id, []).append(cycle_of(row))
    return out


async def forget_cycles(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> None:
    """Drop the tickets' stored cycles: they were rebuilt, and `save` writes them all again
    (a rebuild may number a recurring metric's cycles differently)."""
    if ticket_ids:
        await session.execute(delete(SlaClock).where(SlaClock.ticket_id.in_(list(ticket_ids))))
