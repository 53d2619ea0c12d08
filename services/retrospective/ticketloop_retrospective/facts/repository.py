"""All SQL about ticket facts.

Every write is one `INSERT … ON CONFLICT (ticket_id) DO UPDATE` touching only the columns its
event owns, with the merge rule in the statement itself: the row is locked while the rule is
evaluated, so two services' events for one ticket, applied concurrently by two consumer group
members, cannot lose each other's update.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    ScalarSelect,
    Select,
    SmallInteger,
    String,
    Table,
    TableValuedAlias,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    column,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, array, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from ticketloop_retrospective.facts.models import AnswerFact, ClockFact, SegmentFact, TicketFact
from ticketloop_shared.events import ClockKind, ClockOutcome

_FACTS: Table = cast(Table, TicketFact.__table__)
_SEGMENTS: Table = cast(Table, SegmentFact.__table__)


def _segment_at(customer_id: Any, at: Any) -> ScalarSelect[str]:
    """The segment `customer_id` had at `at`, as a scalar subquery: the latest change at or before
    it, else their first one (a customer is classified a moment after the ticket that made them
    known: that ticket belongs to the segment it led to). NULL while none is known."""
    s = _SEGMENTS.c
    before = s.changed_at <= at
    return (
        select(s.segment)
        .where(s.customer_id == customer_id)
        .order_by(before.desc(), case((before, s.changed_at)).desc(), s.changed_at)
        .limit(1)
        .scalar_subquery()
    )


def _union(known: Any, new: Any) -> Any:
    """`known` plus what `new` (empty or one element) adds to it, as a set."""
    return case((known.contains(new), known), else_=known.concat(new))


_AT = DateTime(timezone=True)


def _rows(**columns: TypeEngine[Any]) -> TableValuedAlias:
    """A run's rows as a table `v`: one array parameter per column (named after it), unnested side
    by side, so one statement with one cached plan writes any number of rows in one round trip."""
    arrays = [sql_cast(bindparam(name), ARRAY(type_)) for name, type_ in columns.items()]
    names = [column(name, type_) for name, type_ in columns.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="v")


def _one(value: Any) -> Any:
    """A set of `value` alone, empty when it is NULL."""
    return func.array_remove(array([value]), null())


def _params(rows: Sequence[Mapping[str, Any]], table: TableValuedAlias) -> dict[str, list[Any]]:
    """The array parameters of `_rows`: each column's values, row by row."""
    return {name: [row[name] for row in rows] for name in table.c.keys()}


_TICKET_ROWS = _rows(
    ticket_id=Uuid(),
    number=String(),
    channel=String(),
    category=String(),
    urgency=String(),
    customer_id=String(),
    created_at=_AT,
    first_response_at=_AT,
    resolved_at=_AT,
    reopened_at=_AT,
    closed_at=_AT,
    need=String(),
    origin=String(),
    expected_resolution_at=_AT,
    customer_annual_spend=Float(),
    reply_id=Uuid(),
    repeat_id=Uuid(),
    self_service=Boolean(),
)
_t = _TICKET_ROWS.c
# A new row takes its customer's segment at its creation from the segment history.
_ticket_insert = insert(_FACTS).from_select(
    [
        *("ticket_id", "number", "channel", "category", "urgency", "customer_id", "created_at"),
        *("first_response_at", "resolved_at", "reopened_at", "closed_at"),
        *("need", "origin", "expected_resolution_at", "customer_annual_spend"),
        *("reply_ids", "reopen_times", "repeat_ids", "self_service", "segment"),
    ],
    select(
        *(_t.ticket_id, _t.number, _t.channel, _t.category, _t.urgency, _t.customer_id, _t.created_at),
        *(_t.first_response_at, _t.resolved_at, _t.reopened_at, _t.closed_at),
        *(_t.need, _t.origin, _t.expected_resolution_at, _t.customer_annual_spend),
        *(_one(_t.reply_id), _one(_t.reopened_at), _one(_t.repeat_id), _t.self_service),
        _segment_at(_t.customer_id, _t.created_at),
    ),
)
# Built once, executed with parameters: the compiled statements are cached (a consumer applies
# a run of hundreds of rows in each).
_RECORD_TICKETS = _ticket_insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        "number": _ticket_insert.excluded.number,
        "channel": _ticket_insert.excluded.channel,
        "category": _ticket_insert.excluded.category,
        "urgency": _ticket_insert.excluded.urgency,
        "customer_id": _ticket_insert.excluded.customer_id,
        "created_at": _ticket_insert.excluded.created_at,
        "first_response_at": func.least(_FACTS.c.first_response_at, _ticket_insert.excluded.first_response_at),
        "resolved_at": func.greatest(_FACTS.c.resolved_at, _ticket_insert.excluded.resolved_at),
        "reopened_at": func.greatest(_FACTS.c.reopened_at, _ticket_insert.excluded.reopened_at),
        "closed_at": func.greatest(_FACTS.c.closed_at, _ticket_insert.excluded.closed_at),
        # Only ticket.created knows these: another event's NULL leaves them alone.
        "need": func.coalesce(_ticket_insert.excluded.need, _FACTS.c.need),
        "origin": func.coalesce(_ticket_insert.excluded.origin, _FACTS.c.origin),
        "expected_resolution_at": func.coalesce(
            _ticket_insert.excluded.expected_resolution_at, _FACTS.c.expected_resolution_at
        ),
        "customer_annual_spend": func.coalesce(
            _ticket_insert.excluded.customer_annual_spend, _FACTS.c.customer_annual_spend
        ),
        # A row an assignment or SLA outcome started has no customer yet: take the segment now.
        "segment": func.coalesce(_FACTS.c.segment, _ticket_insert.excluded.segment),
        "reply_ids": _union(_FACTS.c.reply_ids, _ticket_insert.excluded.reply_ids),
        "reopen_times": _union(_FACTS.c.reopen_times, _ticket_insert.excluded.reopen_times),
        "repeat_ids": _union(_FACTS.c.repeat_ids, _ticket_insert.excluded.repeat_ids),
        "self_service": or_(_FACTS.c.self_service, _ticket_insert.excluded.self_service),
        "updated_at": func.now(),
    },
)
_ASSIGNMENT_ROWS = _rows(ticket_id=Uuid(), assigned_at=_AT, agent_id=String(), department_id=String())
_a = _ASSIGNMENT_ROWS.c
_assignment_insert = insert(_FACTS).from_select(
    ["ticket_id", "assigned_at", "first_assigned_at", "agent_id", "department_id"],
    select(_a.ticket_id, _a.assigned_at, _a.assigned_at, _a.agent_id, _a.department_id),
)
_RECORD_ASSIGNMENTS = _assignment_insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        # The latest owner wins; the earliest assignment starts the handling time.
        "assigned_at": func.greatest(_FACTS.c.assigned_at, _assignment_insert.excluded.assigned_at),
        "agent_id": case(
            (
                or_(_FACTS.c.assigned_at.is_(None), _FACTS.c.assigned_at <= _assignment_insert.excluded.assigned_at),
                _assignment_insert.excluded.agent_id,
            ),
            else_=_FACTS.c.agent_id,
        ),
        "department_id": case(
            (
                or_(_FACTS.c.assigned_at.is_(None), _FACTS.c.assigned_at <= _assignment_insert.excluded.assigned_at),
                _assignment_insert.excluded.department_id,
            ),
            else_=_FACTS.c.department_id,
        ),
        "first_assigned_at": func.least(_FACTS.c.first_assigned_at, _assignment_insert.excluded.first_assigned_at),
        "updated_at": func.now(),
    },
)


async def record_tickets(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert what ticket events say about their tickets (one row per ticket: a run writes a
    ticket's events in turn), each row keyed as `_TICKET_ROWS`' columns.

    The descriptive columns are fixed at creation, so any event's copy may fill them. The first
    response is the earliest reply seen and the resolution the latest (LEAST/GREATEST ignore
    NULLs, so an event that does not know a time leaves it alone); a reply, reopen or repeat
    contact joins its set once.
    A new row takes its customer's segment at `created_at` from the segment history.
    """
    if rows:
        await session.execute(_RECORD_TICKETS, _params(rows, _TICKET_ROWS))


async def record_assignments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert tickets' owners (one row per ticket: ticket_id, assigned_at, agent_id,
    department_id); an older assignment arriving late does not replace a newer one."""
    if rows:
        await session.execute(_RECORD_ASSIGNMENTS, _params(rows, _ASSIGNMENT_ROWS))


_CLOCK_COLUMNS: dict[ClockKind, tuple[str, str]] = {
    ClockKind.FIRST_RESPONSE: ("first_response_sla", "first_response_sla_at"),
    ClockKind.RESOLUTION: ("resolution_sla", "resolution_sla_at"),
}
REPORTED_CLOCKS = frozenset(_CLOCK_COLUMNS)
_OUTCOME_ROWS = _rows(ticket_id=Uuid(), at=_AT)


def _clock_upsert(clock: ClockKind, outcome: ClockOutcome) -> Any:
    """Where one SLA clock of each row's ticket ended up and when (see `record_clocks`)."""
    status_key, at_key = _CLOCK_COLUMNS[clock]
    status, status_at = _FACTS.c[status_key], _FACTS.c[at_key]
    v = _OUTCOME_ROWS.c
    stmt = insert(_FACTS).from_select(
        ["ticket_id", status_key, at_key], select(v.ticket_id, sql_cast(outcome.value, String), v.at)
    )
    new_at = stmt.excluded[at_key]
    breached = ClockOutcome.BREACHED.value
    if outcome is ClockOutcome.BREACHED:
        return stmt.on_conflict_do_update(
            index_elements=[_FACTS.c.ticket_id],
            set_={
                status: breached,
                status_at: case((status == breached, func.least(status_at, new_at)), else_=new_at),
                _FACTS.c.updated_at: func.now(),
            },
        )
    return stmt.on_conflict_do_update(
        index_elements=[_FACTS.c.ticket_id],
        set_={
            status: ClockOutcome.MET.value,
            status_at: func.greatest(status_at, new_at),
            _FACTS.c.updated_at: func.now(),
        },
        where=status.is_distinct_from(breached),
    )


_RECORD_CLOCKS = {
    (clock, outcome): _clock_upsert(clock, outcome)
    for clock in _CLOCK_COLUMNS
    for outcome in (ClockOutcome.MET, ClockOutcome.BREACHED)
}


async def record_clocks(
    session: AsyncSession, *, clock: ClockKind, outcome: ClockOutcome, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Upsert where one SLA clock of tickets ended up and when (one row per ticket: ticket_id, at).

    A breach is final: a later (or late-arriving) `met` for the same clock never hides it, and
    of two breaches the earlier instant is kept. Of two `met`s the later stop wins.
    """
    if outcome is ClockOutcome.RUNNING:
        raise ValueError("only a stopped or breached clock is a fact worth recording")
    if rows:
        await session.execute(_RECORD_CLOCKS[(clock, outcome)], _params(rows, _OUTCOME_ROWS))


_ANSWER_ROWS = _rows(ticket_id=Uuid(), csat=SmallInteger(), nps=SmallInteger(), answered_at=_AT)
_answer_insert = insert(_FACTS).from_select(
    ["ticket_id", "csat", "nps", "answered_at"],
    select(_ANSWER_ROWS.c.ticket_id, _ANSWER_ROWS.c.csat, _ANSWER_ROWS.c.nps, _ANSWER_ROWS.c.answered_at),
)
_RECORD_ANSWERS = _answer_insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        _FACTS.c.csat: _answer_insert.excluded.csat,
        _FACTS.c.nps: _answer_insert.excluded.nps,
        _FACTS.c.answered_at: _answer_insert.excluded.answered_at,
        _FACTS.c.updated_at: func.now(),
    },
    where=or_(_FACTS.c.answered_at.is_(None), _FACTS.c.answered_at <= _answer_insert.excluded.answered_at),
)


async def record_answers(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert customers' satisfaction with tickets (one row per ticket: ticket_id, csat, nps,
    answered_at); the latest answer counts (a ticket survey asks NPS no longer, so `nps` may be
    absent)."""
    if rows:
        await session.execute(_RECORD_ANSWERS, _params(rows, _ANSWER_ROWS))


DIMENSIONS = ("channel", "category", "department_id", "segment", "origin")
_CLOCKS: Table = cast(Table, ClockFact.__table__)
_CYCLE_ROWS = _rows(ticket_id=Uuid(), clock=String(), cycle=Integer(), at=_AT)


def _cycle_upsert(outcome: ClockOutcome) -> Any:
    """Where one cycle of one metric of each row's ticket ended (see `record_cycles`), with the
    ticket's dimensions as its facts hold them."""
    v = _CYCLE_ROWS.c
    dims = [select(_FACTS.c[name]).where(_FACTS.c.ticket_id == v.ticket_id).scalar_subquery() for name in DIMENSIONS]
    stmt = insert(_CLOCKS).from_select(
        ["ticket_id", "clock", "cycle", "outcome", "at", *DIMENSIONS],
        select(v.ticket_id, v.clock, v.cycle, sql_cast(outcome.value, String), v.at, *dims),
    )
    new = stmt.excluded
    c = _CLOCKS.c
    breached = ClockOutcome.BREACHED.value
    if outcome is ClockOutcome.BREACHED:
        return stmt.on_conflict_do_update(
            index_elements=[c.ticket_id, c.clock, c.cycle],
            set_={c.outcome: breached, c.at: case((c.outcome == breached, func.least(c.at, new.at)), else_=new.at)},
        )
    return stmt.on_conflict_do_update(
        index_elements=[c.ticket_id, c.clock, c.cycle],
        set_={c.at: func.greatest(c.at, new.at)},
        where=c.outcome != breached,
    )


_RECORD_CYCLES = {outcome: _cycle_upsert(outcome) for outcome in (ClockOutcome.MET, ClockOutcome.BREACHED)}


async def record_cycles(session: AsyncSession, *, outcome: ClockOutcome, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert where cycles of metrics ended (one row per ticket: ticket_id, clock, cycle, at), by
    the rule of `record_clocks`: a breach is final (the earlier instant kept), of two `met`s the
    later stop wins."""
    if rows:
        await session.execute(_RECORD_CYCLES[outcome], _params(rows, _CYCLE_ROWS))


SCORES = ("csat", "nps", "quality", "response_speed", "resolution", "care", "overall")
_ANSWER_FACT_ROWS = _rows(
    survey_id=Uuid(),
    ticket_id=Uuid(),
    customer_id=String(),
    kind=String(),
    answered_at=_AT,
    **{score: SmallInteger() for score in SCORES},
)
_f = _ANSWER_FACT_ROWS.c
_RECORD_ANSWER_FACTS = (
    insert(cast(Table, AnswerFact.__table__))
    .from_select(
        ["survey_id", "ticket_id", "customer_id", "kind", "answered_at", *SCORES, "segment"],
        select(
            *(_f.survey_id, _f.ticket_id, _f.customer_id, _f.kind, _f.answered_at),
            *(_f[score] for score in SCORES),
            _segment_at(_f.customer_id, _f.answered_at),
        ),
    )
    .on_conflict_do_nothing(index_elements=[AnswerFact.survey_id])
)


async def record_answer_facts(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keep answers' scores (rows: survey_id, ticket_id, customer_id, kind, answered_at and each
    of `SCORES`, None when not asked); a survey is answered once, so a repeat changes nothing."""
    if rows:
        await session.execute(_RECORD_ANSWER_FACTS, _params(rows, _ANSWER_FACT_ROWS))


_SEGMENT_ROWS = _rows(customer_id=String(), changed_at=_AT, segment=String())
_RECORD_SEGMENTS = (
    insert(_SEGMENTS)
    .from_select(
        ["customer_id", "changed_at", "segment"],
        select(_SEGMENT_ROWS.c.customer_id, _SEGMENT_ROWS.c.changed_at, _SEGMENT_ROWS.c.segment),
    )
    .on_conflict_do_nothing(index_elements=[_SEGMENTS.c.customer_id, _SEGMENTS.c.changed_at])
    .returning(_SEGMENTS.c.customer_id, _SEGMENTS.c.changed_at)
)
_CUSTOMERS = sql_cast(bindparam("customers"), ARRAY(String()))
# The changes of the customers concerned with what each covers: from its instant (from the start,
# for a customer's first change: see `_segment_at`) until the next one.
_CHAIN = (
    select(
        _SEGMENTS.c.customer_id,
        _SEGMENTS.c.changed_at,
        _SEGMENTS.c.segment,
        func.lead(_SEGMENTS.c.changed_at)
        .over(partition_by=_SEGMENTS.c.customer_id, order_by=_SEGMENTS.c.changed_at)
        .label("until"),
        func.lag(_SEGMENTS.c.changed_at)
        .over(partition_by=_SEGMENTS.c.customer_id, order_by=_SEGMENTS.c.changed_at)
        .is_(None)
        .label("first"),
    )
    .where(_SEGMENTS.c.customer_id == any_(_CUSTOMERS))
    .subquery("chain")
)
_ch = _CHAIN.c
_CHAIN_SEGMENTS = (
    update(_SEGMENTS)
    .where(
        _SEGMENTS.c.customer_id == _ch.customer_id,
        _SEGMENTS.c.changed_at == _ch.changed_at,
        _SEGMENTS.c.valid_until.is_distinct_from(_ch.until),
    )
    .values(valid_until=_ch.until)
)
# (its own parameter names: an UPDATE reserves its columns' names for their new values)
_NEW_ROWS = (
    func.unnest(sql_cast(bindparam("new_customers"), ARRAY(String())), sql_cast(bindparam("new_instants"), ARRAY(_AT)))
    .table_valued(column("customer_id", String()), column("changed_at", _AT))
    .render_derived(name="k")
)
# The new changes only: what an already known change covers keeps its labels.
_NEW = (
    select(_ch.customer_id, _ch.segment, _ch.changed_at, _ch.until, _ch.first)
    .join(
        _NEW_ROWS,
        and_(_NEW_ROWS.c.customer_id == _ch.customer_id, _NEW_ROWS.c.changed_at == _ch.changed_at),
    )
    .subquery("new")
)


def _relabel(table: Table, instant: str) -> Any:
    """Label the rows of `table` each new change covers (by `instant`) with its segment."""
    at, new = table.c[instant], _NEW.c
    return (
        update(table)
        .where(
            table.c.customer_id == new.customer_id,
            or_(new.first, at >= new.changed_at),
            or_(new.until.is_(None), at < new.until),
            table.c.segment.is_distinct_from(new.segment),
        )
        .values(segment=new.segment)
    )


_RELABEL = (_relabel(_FACTS, "created_at"), _relabel(cast(Table, AnswerFact.__table__), "answered_at"))


async def record_segments(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keep segment changes (rows: customer_id, changed_at, segment; any order, any customer,
    several of one) and re-label what each new one covers: the customer's tickets opened and
    answers given from its `changed_at` (from the start, for their first change) until their
    next change. A change already known (the same customer and instant) changes nothing; of two
    in `rows` the first is kept. Returns the customers with a new change (their SLA cycles
    follow: see `sync_cycle_dimensions`).

    The result is that of keeping the changes one by one: each new change takes over what its
    interval among all the customer's changes covers, and the intervals of the changes known
    before only shrink, so what a known change still covers was never another's to re-label."""
    if not rows:
        return []
    unique = list({(row["customer_id"], row["changed_at"]): row for row in reversed(rows)}.values())
    inserted = (await session.execute(_RECORD_SEGMENTS, _params(unique, _SEGMENT_ROWS))).all()
    if not inserted:
        return []
    customers = sorted({customer_id for customer_id, _ in inserted})
    # Each change ends where the customer's next one begins.
    await session.execute(_CHAIN_SEGMENTS, {"customers": customers})
    new = {"customers": customers, "new_customers": [c for c, _ in inserted], "new_instants": [t for _, t in inserted]}
    for relabel in _RELABEL:  # (the cycles follow: see sync_cycle_dimensions)
        await session.execute(relabel, new)
    return customers


_DIFFERS = or_(*[_CLOCKS.c[d].is_distinct_from(_FACTS.c[d]) for d in DIMENSIONS])
_SYNC_TICKETS = (
    update(_CLOCKS)
    .where(
        _CLOCKS.c.ticket_id == _FACTS.c.ticket_id,
        _FACTS.c.ticket_id == any_(sql_cast(bindparam("ticket_ids"), ARRAY(Uuid()))),
        _DIFFERS,
    )
    .values({d: _FACTS.c[d] for d in DIMENSIONS})
)


_SYNC_CUSTOMERS = (
    update(_CLOCKS)
    .where(_CLOCKS.c.ticket_id == _FACTS.c.ticket_id, _FACTS.c.customer_id == any_(_CUSTOMERS), _DIFFERS)
    .values({d: _FACTS.c[d] for d in DIMENSIONS})
)


async def sync_cycle_dimensions(
    session: AsyncSession, *, ticket_ids: Sequence[uuid.UUID] = (), customer_ids: Sequence[str] = ()
) -> None:
    """Copy tickets' (or customers' tickets') dimensions onto their SLA cycles, where they
    differ: after an event that can change them (creation, assignment, recategorisation, a
    segment change)."""
    if customer_ids:
        await session.execute(_SYNC_CUSTOMERS, {"customers": list(customer_ids)})
    if ticket_ids:
        await session.execute(_SYNC_TICKETS, {"ticket_ids": list(ticket_ids)})


def customers_of_department(department_id: str) -> Select[Any]:
    """The customers with a ticket the department holds (as a subquery: other features filter
    their own rows by it without reading the facts themselves)."""
    return select(TicketFact.customer_id).where(TicketFact.department_id == department_id).distinct()


async def has_ticket_in(session: AsyncSession, *, customer_id: str, department_id: str) -> bool:
    """Whether the customer has a ticket the department holds."""
    found = await session.scalar(
        select(TicketFact.ticket_id)
        .where(TicketFact.customer_id == customer_id, TicketFact.department_id == department_id)
        .limit(1)
    )
    return found is not None
