"""All SQL about tickets and their timeline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Row, TextClause, delete, func, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, make_transient_to_detached, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import AliasedClass

from ticketloop_intake.customers.models import CustomerKey
from ticketloop_intake.db import Base
from ticketloop_intake.idempotency.service import Claim, KeyTaken
from ticketloop_intake.tickets.domain import OPEN, Status, WorkOrder
from ticketloop_intake.tickets.models import TICKET_NUMBER_SEQ, Ticket, TicketWord, TimelineEntry
from ticketloop_shared.ids import new_id
from ticketloop_shared.state import Slot


class NumberBlocks:
    """Ticket sequence values taken from PostgreSQL a block at a time, per database.

    Numbers stay unique; gaps (a rollback, a restart) and a slightly different order across
    worker processes are harmless, and a ticket no longer costs a round trip for its number.
    No lock: a request waiting on one while other requests hold pooled connections and wait on
    it would deadlock the pool; two requests refilling at once just take two blocks.
    """

    def __init__(self, block: int = 100) -> None:
        self.block = block
        self._free: dict[int, list[int]] = {}

    async def next(self, statements: asyncpg.Pool) -> int:
        """The next number for the pool's database."""
        free = self._free.setdefault(id(statements), [])
        while not free:
            values = await statements.fetch(
                f"SELECT nextval('{TICKET_NUMBER_SEQ.name}') FROM generate_series(1, $1)", self.block
            )
            free.extend(sorted((int(v[0]) for v in values), reverse=True))
        return free.pop()


NUMBERS = Slot("ticket number blocks", NumberBlocks)
_TICKETS = Base.metadata.tables["tickets"]
_TIMELINE = Base.metadata.tables["timeline"]
_OUTBOX_COLUMNS = ("event_id", "topic", "key", "event_type", "payload", "headers")


@dataclass(frozen=True)
class RepeatProbe:
    """What recognises a report of a problem the customer already has, whichever channel
    reported it: same category, the same subject fingerprint or a subject whose trigrams are at
    least `similarity` alike (`domain.similarity`) with the same `numbers`, open, or resolved
    after `resolved_since`."""

    customer_id: str
    category: str
    fingerprint: str
    grams: Sequence[int]
    resolved_since: datetime
    similarity: float
    numbers: Sequence[int] = ()


_OPEN_STATUSES = [s.value for s in Status if s in OPEN]


def _raw(column: str, value: object) -> object:
    """A ticket attribute as the autocommit statement takes it: JSONB columns as JSON text."""
    return json.dumps(value) if column == "sla_clocks" and value is not None else value


@cache
def _create_statement(with_claim: bool, with_probe: bool) -> str:
    """Ticket, first timeline entry, outbox row (and the key's record) in one statement; with a
    probe, only when the customer has no such ticket already, whose id it then returns."""
    n = 0

    def values(count: int) -> str:
        nonlocal n
        n += count
        return ", ".join(f"${i}" for i in range(n - count + 1, n + 1))

    guard = " WHERE NOT EXISTS (SELECT 1 FROM prior)" if with_probe else ""
    parts = []
    if with_probe:
        # `ticket_repeat_of` (migration 0019) locks the customer first and looks with a fresh
        # snapshot, so of two identical reports at once the second links to the first.
        parts.append(
            f"prior AS (SELECT id FROM ticket_repeat_of(${n + 1}, ${n + 2}, ${n + 3}, ${n + 4}::integer[], "
            f"${n + 5}::text[], ${n + 6}, ${n + 7}, ${n + 8}::integer[]) AS r(id) WHERE id IS NOT NULL)"
        )
        n += 8

    def insert(table: str, columns: Sequence[str], tail: str = "") -> str:
        return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values(len(columns))}{tail}{guard}"

    parts.append(f"t AS ({insert('tickets', [c.name for c in _TICKETS.columns])})")
    parts.append(f"e AS ({insert('timeline', [c.name for c in _TIMELINE.columns])})")
    if with_claim:
        parts.append(f"k AS ({insert(Claim.TABLE, Claim.COLUMNS)})")
    parts.append(
        f"w AS (INSERT INTO {TicketWord.__tablename__} (token, ticket_id) "
        f"SELECT unnest(CAST(${n + 1} AS bytea[])), ${n + 2}{guard})"
    )
    n += 2
    outbox_columns = ", ".join(_OUTBOX_COLUMNS)
    parts.append(f"o AS (INSERT INTO outbox ({outbox_columns}) SELECT {values(5)}, ${n + 1}::jsonb{guard})")
    found = "SELECT id FROM prior" if with_probe else "SELECT NULL::uuid AS id"
    return f"WITH {', '.join(parts)} {found}"


async def insert_new(
    statements: asyncpg.Pool,
    ticket: Ticket,
    entry: TimelineEntry,
    *,
    outbox_row: dict[str, object],
    claim: Claim | None = None,
    probe: RepeatProbe | None = None,
    words: Sequence[bytes] = (),
) -> uuid.UUID | None:
    """Write a new ticket, its first timeline entry, its search tokens (`words`), its
    `ticket.created` outbox row and the Idempotency-Key's record in one autocommit statement: the
    hot path of the whole system (no BEGIN/COMMIT, no ORM flush, no read-back). Raises `KeyTaken`
    when the key has a record.

    With a `probe`, the same statement first looks for the customer's ticket for the same
    problem (under a lock per customer, so two identical reports at once open one ticket); if
    there is one, nothing is written and its id is returned (a repeat contact)."""
    args: list[object] = []
    if probe is not None:
        args += [
            probe.customer_id,
            probe.category,
            probe.fingerprint,
            list(probe.grams),
            _OPEN_STATUSES,
            probe.resolved_since,
            probe.similarity,
            sorted(probe.numbers),
        ]
    args += [_raw(c.key, getattr(ticket, c.key)) for c in _TICKETS.columns]
    args += [getattr(entry, c.key) for c in _TIMELINE.columns]
    if claim is not None:
        args += claim.values(ticket.id)
    args += [list(words), ticket.id]
    args += [outbox_row[name] for name in _OUTBOX_COLUMNS[:-1]]
    args.append(json.dumps(outbox_row["headers"]))
    try:
        prior: uuid.UUID | None = await statements.fetchval(
            _create_statement(claim is not None, probe is not None), *args
        )
    except asyncpg.UniqueViolationError as exc:
        if claim is not None and exc.table_name == Claim.TABLE:
            raise KeyTaken(claim.key) from exc
        raise
    return prior


def hold_as_written(session: AsyncSession, ticket: Ticket) -> None:
    """Let the session hold a ticket `insert_new` just wrote as if it had read it back (every
    column as written; none was left to the database): what reads it later in the transaction
    (a channel's acknowledgement fan-out) then costs no query."""
    written = inspect(ticket).dict
    for column in _TICKETS.columns:
        if column.key not in written:
            setattr(ticket, column.key, None)  # written as NULL: `insert_new` passes every column
    make_transient_to_detached(ticket)
    session.add(ticket)


@dataclass(frozen=True)
class Shown:
    """One assignment to show on its ticket, with the id and body of its timeline entry."""

    ticket_id: uuid.UUID
    agent_id: str
    agent_name: str
    department_id: str
    department_name: str
    assigned_at: datetime
    entry_id: uuid.UUID
    entry_body: bytes
    # Routing's priority score (None keeps the one shown) and its reason for the timeline (JSON
    # text: rule, actor, note).
    score: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Applied:
    """An assignment shown on its ticket: the status before and after, and what every ticket
    event repeats about the ticket (to announce a change of status)."""

    ticket_id: uuid.UUID
    old_status: str
    new_status: str
    number: str
    channel: str
    category: str
    urgency: str
    customer_id: str
    created_at: datetime


async def apply_assignments(
    session: AsyncSession, assignments: Sequence[Shown], *, statuses: Mapping[str, str], kind: str = "assigned"
) -> list[Applied]:
    """Set each ticket's owner (status moved by `statuses`) and add its timeline entry of `kind`,
    unless a newer assignment is already shown, in one statement for the whole run: intake
    applies these on the event loop that also takes new tickets, so a round trip per event would
    let them fall behind. Returns the tickets applied. One ticket appears at most once (the
    caller splits)."""
    moves = sorted(statuses.items())
    params: dict[str, object] = {
        "ticket_ids": [a.ticket_id for a in assignments],
        "agent_ids": [a.agent_id for a in assignments],
        "agent_names": [a.agent_name for a in assignments],
        "department_ids": [a.department_id for a in assignments],
        "department_names": [a.department_name for a in assignments],
        "assigned_ats": [a.assigned_at for a in assignments],
        "entry_ids": [a.entry_id for a in assignments],
        "entry_bodies": [a.entry_body for a in assignments],
        "scores": [a.score for a in assignments],
        "reasons": [a.reason for a in assignments],
        "kind": kind,
    }
    for i, (old, new) in enumerate(moves):
        params[f"old{i}"], params[f"new{i}"] = old, new
    # The statuses before the change, locked first in their own statement: a CTE locking the
    # rows the same statement then updates lets a concurrent change (a resolve) make PostgreSQL's
    # re-check skip the row, and the assignment would be lost without an error.
    ticket_ids = [a.ticket_id for a in assignments]
    locked = await session.execute(
        select(Ticket.id, Ticket.status).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id).with_for_update()
    )
    before: dict[uuid.UUID, str] = {row.id: row.status for row in locked}
    result = await session.execute(_assignments_statement(len(moves)), params)
    return [Applied(old_status=before[row.ticket_id], **row._mapping) for row in result.all()]


@cache
def _assignments_statement(moves: int) -> TextClause:
    whens = " ".join(f"WHEN :old{i} THEN :new{i}" for i in range(moves))
    return text(
        "WITH input AS (SELECT * FROM unnest(CAST(:ticket_ids AS uuid[]), CAST(:agent_ids AS text[]), "
        "CAST(:agent_names AS text[]), CAST(:department_ids AS text[]), CAST(:department_names AS text[]), "
        "CAST(:assigned_ats AS timestamptz[]), CAST(:entry_ids AS uuid[]), CAST(:entry_bodies AS bytea[]), "
        "CAST(:scores AS float8[]), CAST(:reasons AS text[])) "
        "AS i(ticket_id, agent_id, agent_name, department_id, department_name, assigned_at, entry_id, entry_body, "
        "score, reason)), "
        "updated AS ("
        f"UPDATE tickets t SET status = CASE t.status {whens} ELSE t.status END, "
        "assignee_id = i.agent_id, assignee_name = i.agent_name, department_id = i.department_id, "
        "department_name = i.department_name, assigned_at = i.assigned_at, "
        "priority_score = COALESCE(i.score, t.priority_score), updated_at = now() "
        "FROM input i "
        "WHERE t.id = i.ticket_id AND (t.assigned_at IS NULL OR t.assigned_at <= i.assigned_at) "
        "RETURNING t.id AS ticket_id, t.status AS new_status, t.number, t.channel, "
        "t.category, t.urgency, t.customer_id, t.created_at, i.entry_id, i.assigned_at, i.entry_body, "
        "i.reason), "
        "entries AS (INSERT INTO timeline (id, ticket_id, at, kind, actor, body, reason) "
        "SELECT entry_id, ticket_id, assigned_at, :kind, 'routing', entry_body, CAST(reason AS jsonb) FROM updated) "
        "SELECT ticket_id, new_status, number, channel, category, urgency, customer_id, created_at "
        "FROM updated"
    )


async def show_queued(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    department_id: str,
    department_name: str,
    at: datetime,
    body: bytes,
    score: float | None = None,
    reason: str | None = None,
) -> bool:
    """Show the department whose queue a ticket waits in, and its priority score there. A ticket
    never assigned takes it whenever it arrives; an assigned one only when the queueing is newer
    than the assignment shown (a transfer to a department where nobody is free: the ticket has no
    owner again, and `assigned_at` keeps the queueing instant so a late, older assignment cannot
    undo it), never when the queue event is late. False if the ticket is unknown. `reason`:
    routing's reason for the timeline entry, as JSON text."""
    result = await session.execute(
        text(
            "WITH t AS (UPDATE tickets SET department_id = :department_id, department_name = :department_name, "
            "priority_score = COALESCE(CAST(:score AS float8), priority_score), "
            "assignee_id = NULL, assignee_name = NULL, "
            "assigned_at = CASE WHEN assigned_at IS NULL THEN NULL ELSE CAST(:at AS timestamptz) END, "
            "updated_at = now() WHERE id = :ticket_id AND (assigned_at IS NULL OR assigned_at < :at) RETURNING id), "
            "e AS (INSERT INTO timeline (id, ticket_id, at, kind, actor, body, reason) "
            "SELECT :entry_id, id, :at, 'queued', 'routing', :body, CAST(:reason AS jsonb) FROM t) "
            "SELECT EXISTS (SELECT 1 FROM tickets WHERE id = :ticket_id)"
        ),
        {
            "ticket_id": ticket_id,
            "department_id": department_id,
            "department_name": department_name,
            "at": at,
            "body": body,
            "entry_id": new_id(),
            "score": score,
            "reason": reason,
        },
    )
    return bool(result.scalar())


@dataclass(frozen=True)
class ClocksShown:
    """One ticket's clocks as sla published them, to store on the ticket (`clocks`: the JSON
    text of the published list)."""

    ticket_id: uuid.UUID
    version: int
    policy_id: str
    clocks: str
    next_due_at: datetime | None = None
    next_due_clock: str | None = None


async def show_clocks(session: AsyncSession, published: Sequence[ClocksShown]) -> set[uuid.UUID]:
    """Store each ticket's clocks unless as new a version is stored already, in one statement for
    the whole run (intake applies these on the event loop that also takes new tickets). Returns
    the tickets intake does not have. One ticket appears at most once (the caller keeps its
    newest)."""
    if len(published) > 1:
        # Locked in id order first, as every transaction that locks several tickets does (the
        # update's own order is its plan's): the webhook worker recording acknowledgements
        # deadlocked against it.
        await session.execute(
            select(Ticket.id)
            .where(Ticket.id.in_(sorted(p.ticket_id for p in published)))
            .order_by(Ticket.id)
            .with_for_update()
        )
    result = await session.execute(
        _CLOCKS_STATEMENT,
        {
            "ticket_ids": [p.ticket_id for p in published],
            "versions": [p.version for p in published],
            "policy_ids": [p.policy_id for p in published],
            "clocks": [p.clocks for p in published],
            "next_due_ats": [p.next_due_at for p in published],
            "next_due_clocks": [p.next_due_clock for p in published],
        },
    )
    return set(result.scalars().all())


# An older or repeated version matches no row; the final SELECT sees the tickets as they were
# before the update, which is all it needs to tell an unknown ticket from a stale version.
_CLOCKS_STATEMENT = text(
    "WITH input AS (SELECT * FROM unnest(CAST(:ticket_ids AS uuid[]), CAST(:versions AS integer[]), "
    "CAST(:policy_ids AS text[]), CAST(:clocks AS text[]), CAST(:next_due_ats AS timestamptz[]), "
    "CAST(:next_due_clocks AS text[])) AS i(ticket_id, version, policy_id, clocks, next_due_at, next_due_clock)), "
    "updated AS (UPDATE tickets t SET sla_clocks = CAST(i.clocks AS jsonb), sla_version = i.version, "
    "sla_policy_id = i.policy_id, next_due_at = i.next_due_at, next_due_clock = i.next_due_clock FROM input i "
    "WHERE t.id = i.ticket_id AND (t.sla_version IS NULL OR t.sla_version < i.version) RETURNING t.id) "
    "SELECT i.ticket_id FROM input i WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = i.ticket_id)"
)


async def existing(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these tickets exist."""
    return set((await session.scalars(select(Ticket.id).where(Ticket.id.in_(ticket_ids)))).all())


async def get(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
    """One ticket; `for_update` locks it for a state change."""
    stmt = select(Ticket).where(Ticket.id == ticket_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def mark_acknowledgement_queued(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Mark a ticket not yet acknowledged as waiting for its acknowledgement's delivery (also in
    the session's copy, if it holds the ticket)."""
    updated = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.acknowledged_at.is_(None))
        .values(acknowledged_via="webhook")
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
    held = session.identity_map.get(session.identity_key(Ticket, ticket_id)) if updated.first() else None
    if isinstance(held, Ticket):
        set_committed_value(held, "acknowledged_via", "webhook")


async def acknowledge_many(
    session: AsyncSession, acknowledged: Sequence[tuple[uuid.UUID, datetime]], *, via: str, fields: Sequence[str]
) -> Sequence[Row[Any]]:
    """Record `(ticket, instant)` acknowledgements of tickets not acknowledged yet (with a
    read-back, only of tickets no delivery was queued for), the tickets locked in id order
    first; the tickets recorded, with their `fields`."""
    ids = sorted(ticket_id for ticket_id, _ in acknowledged)
    await session.execute(select(Ticket.id).where(Ticket.id.in_(ids)).order_by(Ticket.id).with_for_update())
    at = dict(acknowledged)
    result = await session.execute(
        _ACKNOWLEDGE_MANY(tuple(fields), via == "read_back"),
        {"ids": ids, "ats": [at[i] for i in ids], "via": via},
    )
    return result.all()


@cache
def _ACKNOWLEDGE_MANY(fields: tuple[str, ...], read_back: bool) -> TextClause:  # noqa: N802 (a statement, cached)
    only_unqueued = " AND t.acknowledged_via IS NULL" if read_back else ""
    return text(
        f"""
        UPDATE tickets t SET acknowledged_at = v.at, acknowledged_via = :via
        FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS v(id, at)
        WHERE t.id = v.id AND t.acknowledged_at IS NULL{only_unqueued}
        RETURNING t.id, {", ".join(f"t.{f}" for f in fields)}
        """
    )


async def by_number(session: AsyncSession, number: str) -> Ticket | None:
    """The ticket with this number."""
    return await session.scalar(select(Ticket).where(Ticket.number == number))


async def by_origin(session: AsyncSession, origin: str, origin_id: str) -> Ticket | None:
    """The proactive ticket a survey or care task already opened."""
    return await session.scalar(select(Ticket).where(Ticket.origin == origin, Ticket.origin_id == origin_id))


async def lock_resolved_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> Sequence[Ticket]:
    """Resolved tickets resolved before `cutoff`, oldest first, locked (skipping ones another
    sweep holds)."""
    stmt = (
        select(Ticket)
        .where(Ticket.status == "resolved", Ticket.resolved_at < cutoff)
        .order_by(Ticket.resolved_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(stmt)).all()


async def earliest_resolved(session: AsyncSession) -> datetime | None:
    """When the longest-resolved ticket still waiting for confirmation was resolved."""
    earliest: datetime | None = await session.scalar(
        select(func.min(Ticket.resolved_at)).where(Ticket.status == "resolved")
    )
    return earliest


async def get_with_timeline(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    """One ticket with its timeline loaded."""
    return await session.scalar(select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.timeline)))


async def timeline(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[TimelineEntry]:
    """A ticket's timeline, oldest first."""
    return (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.ticket_id == ticket_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    ).all()


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets a list shows (None: any); `words`: search tokens a ticket must all have."""

    status: str | None = None
    channel: str | None = None
    category: str | None = None
    # Any of these (a pseudonym, and a reference not yet re-keyed).
    customer_ids: Sequence[str] = ()
    assignee_id: str | None = None
    department_id: str | None = None
    channel_client_id: uuid.UUID | None = None
    unassigned: bool = False
    number: str | None = None
    words: Sequence[bytes] = ()
    origin: str | None = None


def _where(t: type[Ticket] | AliasedClass[Ticket], f: TicketFilter) -> list[ColumnElement[bool]]:
    """The conditions of `f` on `t` (the tickets table or an alias of it)."""
    values = {
        t.status: f.status,
        t.channel: f.channel,
        t.category: f.category,
        t.assignee_id: f.assignee_id,
        t.department_id: f.department_id,
        t.channel_client_id: f.channel_client_id,
        t.number: f.number,
        t.origin: f.origin,
    }
    conditions: list[ColumnElement[bool]] = [column == value for column, value in values.items() if value is not None]
    if f.customer_ids:
        conditions.append(t.customer_id.in_(f.customer_ids))
    if f.unassigned:
        conditions.append(t.assignee_id.is_(None))
    if f.words:
        tokens = sorted(set(f.words))
        matching = (
            select(TicketWord.ticket_id)
            .where(TicketWord.token.in_(tokens))
            .group_by(TicketWord.ticket_id)
            .having(func.count() == len(tokens))
        )
        conditions.append(t.id.in_(matching))
    return conditions


def _order(t: type[Ticket], order: WorkOrder) -> list[ColumnElement[Any]]:
    """`domain.WorkOrder` in SQL, matching the work-list indexes of `models.py`."""
    score, due = t.priority_score.desc().nulls_last(), t.next_due_at.asc().nulls_last()
    if order is WorkOrder.PRIORITY:
        return [score, due, t.created_at.asc(), t.id.asc()]
    if order is WorkOrder.DUE:
        return [due, score, t.created_at.asc(), t.id.asc()]
    return [t.created_at.desc(), t.id.desc()]


async def search(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    category: str | None,
    assignee_id: str | None,
    limit: int,
    customer_ids: Sequence[str] = (),
    offset: int,
    department_id: str | None = None,
    channel_client_id: uuid.UUID | None = None,
    unassigned: bool = False,
    number: str | None = None,
    words: Sequence[bytes] = (),
    order: WorkOrder = WorkOrder.NEWEST,
    origin: str | None = None,
) -> tuple[Sequence[Ticket], int]:
    """A filtered, ordered page of tickets and the total matching, in one statement (the total
    is an uncorrelated subquery PostgreSQL runs once); only a page past the end costs a second
    one, to count."""
    f = TicketFilter(
        status=status,
        channel=channel,
        category=category,
        customer_ids=customer_ids,
        assignee_id=assignee_id,
        department_id=department_id,
        channel_client_id=channel_client_id,
        unassigned=unassigned,
        number=number,
        words=words,
        origin=origin,
    )
    counted = aliased(Ticket)
    counting = select(func.count()).select_from(counted).where(*_where(counted, f))
    stmt = (
        select(Ticket, counting.scalar_subquery().label("total"))
        .where(*_where(Ticket, f))
        .order_by(*_order(Ticket, order))
        .limit(limit)
        .offset(offset)
    )
    result = (await session.execute(stmt)).all()
    if result:
        return [row[0] for row in result], int(result[0][1])
    if offset == 0:
        return [], 0
    return [], int(await session.scalar(counting) or 0)


def add_words(session: AsyncSession, ticket_id: uuid.UUID, tokens: Sequence[bytes]) -> None:
    """Stage a ticket's search tokens (a ticket written through the session, not the hot path)."""
    session.add_all(TicketWord(token=token, ticket_id=ticket_id) for token in tokens)


async def erase_words(session: AsyncSession, customer_id: str) -> int:
    """Delete the search tokens of the customer's tickets (and their subjects' keyed trigrams,
    derived from the texts too); how many token rows went."""
    await session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.subject_grams.is_not(None))
        .values(subject_grams=None, subject_numbers=None)
    )
    tickets = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    result = await session.execute(delete(TicketWord).where(TicketWord.ticket_id.in_(tickets)))
    return int(getattr(result, "rowcount", 0) or 0)


def add_entry(session: AsyncSession, entry: TimelineEntry) -> None:
    """Stage a timeline entry."""
    session.add(entry)


async def erase_unsealed(session: AsyncSession, customer_id: str, *, clear_mark: int, erased: bytes) -> None:
    """Overwrite with `erased` what is stored unsealed (values starting with `clear_mark`: rows
    from before sealing began) on the customer's tickets and timeline entries."""
    unsealed = func.get_byte(Ticket.subject, 0) == clear_mark
    await session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id, unsealed)
        .values(subject=erased, description=erased, customer_name=erased, customer_contact=None)
    )
    tickets = select(Ticket.id).where(Ticket.customer_id == customer_id).scalar_subquery()
    await session.execute(
        update(TimelineEntry)
        .where(
            TimelineEntry.ticket_id.in_(tickets),
            TimelineEntry.kind != "assigned",
            func.get_byte(TimelineEntry.body, 0) == clear_mark,
        )
        .values(body=erased)
    )


async def latest_of_customer(session: AsyncSession, customer_ids: Sequence[str]) -> Ticket | None:
    """The newest ticket filed under any of `customer_ids` (where the customer's latest name,
    contact and reference are); its `customer_id` says which id the customer is stored under."""
    return await session.scalar(
        select(Ticket).where(Ticket.customer_id.in_(customer_ids)).order_by(Ticket.created_at.desc()).limit(1)
    )


async def made_under_key(session: AsyncSession, *, scope: str, key: str) -> tuple[uuid.UUID, str] | None:
    """The ticket the one-statement write created with this Idempotency-Key's record (its id and
    number)."""
    row = (
        await session.execute(
            text(
                "SELECT t.id, t.number FROM idempotency_keys AS k JOIN tickets AS t ON t.id = k.resource_id "
                "WHERE k.scope = :scope AND k.key = :key"
            ),
            {"scope": scope, "key": key},
        )
    ).first()
    return (row.id, row.number) if row is not None else None


async def entry(session: AsyncSession, ticket_id: uuid.UUID, entry_id: uuid.UUID) -> TimelineEntry | None:
    """One timeline entry of a ticket."""
    return await session.scalar(
        select(TimelineEntry).where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.id == entry_id)
    )


async def latest_entry(session: AsyncSession, ticket_id: uuid.UUID, kind: str) -> TimelineEntry | None:
    """A ticket's newest timeline entry of one kind (the request for information just made)."""
    return await session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.kind == kind)
        .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc())
        .limit(1)
    )


# Retention: closed tickets whose personal texts are still stored, by closing time (the partial
# index `ix_tickets_closed_texts` holds exactly those, so it shrinks as the job erases).
# Written as the index's predicate (constants, not parameters), so the planner can use it.
_CLOSED_WITH_TEXTS = text("tickets.status = 'closed' AND tickets.subject <> '\\x02'::bytea")


def _closed_with_texts(cutoff: datetime, erased: bytes) -> list[ColumnElement[bool]]:
    if erased != b"\x02":
        raise ValueError("the index `ix_tickets_closed_texts` assumes the erased mark is 0x02")
    return [_CLOSED_WITH_TEXTS, Ticket.closed_at < cutoff]  # type: ignore[list-item]


async def closed_texts_due(session: AsyncSession, cutoff: datetime, *, erased: bytes) -> tuple[int, datetime | None]:
    """How many tickets closed before `cutoff` still hold their personal texts, and the oldest closing."""
    row = (
        await session.execute(
            select(func.count(), func.min(Ticket.closed_at)).where(*_closed_with_texts(cutoff, erased))
        )
    ).one()
    return int(row[0]), row[1]


async def erase_closed_texts(session: AsyncSession, cutoff: datetime, *, erased: bytes, limit: int) -> list[uuid.UUID]:
    """Overwrite with `erased` the personal texts of at most `limit` tickets closed before
    `cutoff` (subject, description, name, contact, and their timeline entries' bodies but the
    assignment notes), deleting their search tokens; the tickets' ids. Tickets another
    transaction holds are left for the next batch."""
    ids = list(
        (
            await session.scalars(
                select(Ticket.id)
                .where(*_closed_with_texts(cutoff, erased))
                .order_by(Ticket.closed_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    if not ids:
        return []
    await session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ids))
        .values(
            subject=erased, description=erased, customer_name=erased, customer_contact=None, customer_reference=erased
        )
    )
    await session.execute(
        update(TimelineEntry)
        .where(
            TimelineEntry.ticket_id.in_(ids),
            TimelineEntry.kind != "assigned",
            TimelineEntry.body.is_not(None),
            TimelineEntry.body != erased,
        )
        .values(body=erased)
    )
    await session.execute(delete(TicketWord).where(TicketWord.ticket_id.in_(ids)))
    return ids


def _active_since(cutoff: datetime) -> ColumnElement[bool]:
    """A ticket that keeps its customer's key: not closed, or closed at or after `cutoff`."""
    return (Ticket.status != Status.CLOSED.value) | (Ticket.closed_at >= cutoff) | Ticket.closed_at.is_(None)


async def quiet_customers_due(session: AsyncSession, cutoff: datetime) -> tuple[int, datetime | None]:
    """How many customers hold a key though every ticket of theirs closed before `cutoff`, and
    the earliest of their last closings."""
    last_closed = (
        select(func.max(Ticket.closed_at)).where(Ticket.customer_id == CustomerKey.customer_id).scalar_subquery()
    )
    quiet = select(CustomerKey.customer_id, last_closed.label("last_closed")).where(_quiet(cutoff)).subquery()
    row = (await session.execute(select(func.count(), func.min(quiet.c.last_closed)))).one()
    return int(row[0]), row[1]


def _quiet(cutoff: datetime) -> ColumnElement[bool]:
    """A key nothing young is sealed with: its customer's tickets all closed before `cutoff`; or,
    with no ticket at all (its first ticket failed), created before it (one in flight is young)."""
    of_customer = Ticket.customer_id == CustomerKey.customer_id
    has_ticket = select(Ticket.id).where(of_customer).exists()
    has_active = select(Ticket.id).where(of_customer, _active_since(cutoff)).exists()
    return (has_ticket & ~has_active) | (~has_ticket & (CustomerKey.created_at < cutoff))


async def quiet_customers(session: AsyncSession, cutoff: datetime, *, limit: int) -> list[str]:
    """At most `limit` customers holding a key though every ticket of theirs closed before
    `cutoff`; their key rows stay locked to this transaction (others' are skipped)."""
    rows = await session.scalars(
        select(CustomerKey.customer_id)
        .where(_quiet(cutoff))
        .limit(limit)
        .with_for_update(skip_locked=True, of=CustomerKey)
    )
    return [str(c) for c in rows.all()]
