"""All SQL about ticket facts.

Every write is one `INSERT … ON CONFLICT (ticket_id) DO UPDATE` touching only the columns its
event owns, with the merge rule in the statement itself: the row is locked while the rule is
evaluated, so two services' events for one ticket, applied concurrently by two consumer group
members, cannot lose each other's update.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ScalarSelect, Select, Table, and_, bindparam, case, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import AnswerFact, ClockFact, SegmentFact, TicketFact
from ticketloop_shared.events import ClockKind, ClockOutcome

_FACTS: Table = cast(Table, TicketFact.__table__)
_SEGMENTS: Table = cast(Table, SegmentFact.__table__)
_insert = insert(_FACTS)


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


# A new row takes its customer's segment at its creation from the segment history.
_ticket_insert = insert(_FACTS).values(segment=_segment_at(bindparam("segment_customer"), bindparam("segment_at")))
# Built once, executed with parameters: the compiled statements are cached (a consumer applies
# hundreds of these a second).
_RECORD_TICKET = _ticket_insert.on_conflict_do_update(
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
_RECORD_ASSIGNMENT = _insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        # The latest owner wins; the earliest assignment starts the handling time.
        "assigned_at": func.greatest(_FACTS.c.assigned_at, _insert.excluded.assigned_at),
        "agent_id": case(
            (
                or_(_FACTS.c.assigned_at.is_(None), _FACTS.c.assigned_at <= _insert.excluded.assigned_at),
                _insert.excluded.agent_id,
            ),
            else_=_FACTS.c.agent_id,
        ),
        "department_id": case(
            (
                or_(_FACTS.c.assigned_at.is_(None), _FACTS.c.assigned_at <= _insert.excluded.assigned_at),
                _insert.excluded.department_id,
            ),
            else_=_FACTS.c.department_id,
        ),
        "first_assigned_at": func.least(_FACTS.c.first_assigned_at, _insert.excluded.first_assigned_at),
        "updated_at": func.now(),
    },
)


async def record_ticket(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    number: str,
    channel: str,
    category: str,
    urgency: str,
    customer_id: str,
    created_at: datetime,
    first_response_at: datetime | None = None,
    resolved_at: datetime | None = None,
    reopened_at: datetime | None = None,
    closed_at: datetime | None = None,
    need: str | None = None,
    origin: str | None = None,
    expected_resolution_at: datetime | None = None,
    customer_annual_spend: float | None = None,
    reply_id: uuid.UUID | None = None,
    repeat_id: uuid.UUID | None = None,
    self_service: bool = False,
) -> None:
    """Upsert what a ticket event says about its ticket.

    The descriptive columns are fixed at creation, so any event's copy may fill them. The first
    response is the earliest reply seen and the resolution the latest (LEAST/GREATEST ignore
    NULLs, so an event that does not know a time leaves it alone); a reply, reopen or repeat
    contact joins its set once.
    A new row takes its customer's segment at `created_at` from the segment history.
    """
    await session.execute(
        _RECORD_TICKET,
        {
            "ticket_id": ticket_id,
            "number": number,
            "channel": channel,
            "category": category,
            "urgency": urgency,
            "customer_id": customer_id,
            "created_at": created_at,
            "first_response_at": first_response_at,
            "resolved_at": resolved_at,
            "reopened_at": reopened_at,
            "closed_at": closed_at,
            "need": need,
            "origin": origin,
            "expected_resolution_at": expected_resolution_at,
            "customer_annual_spend": customer_annual_spend,
            "reply_ids": [reply_id] if reply_id else [],
            "reopen_times": [reopened_at] if reopened_at else [],
            "repeat_ids": [repeat_id] if repeat_id else [],
            "self_service": self_service,
            "segment_customer": customer_id,
            "segment_at": created_at,
        },
    )


async def record_assignment(
    session: AsyncSession, *, ticket_id: uuid.UUID, assigned_at: datetime, agent_id: str, department_id: str
) -> None:
    """Upsert the ticket's owner; an older assignment arriving late does not replace a newer one."""
    await session.execute(
        _RECORD_ASSIGNMENT,
        {
            "ticket_id": ticket_id,
            "assigned_at": assigned_at,
            "first_assigned_at": assigned_at,
            "agent_id": agent_id,
            "department_id": department_id,
        },
    )


async def record_clock(
    session: AsyncSession, *, ticket_id: uuid.UUID, clock: ClockKind, outcome: ClockOutcome, at: datetime
) -> None:
    """Upsert where one SLA clock ended up and when.

    A breach is final: a later (or late-arriving) `met` for the same clock never hides it, and
    of two breaches the earlier instant is kept. Of two `met`s the later stop wins.
    """
    if outcome is ClockOutcome.RUNNING:
        raise ValueError("only a stopped or breached clock is a fact worth recording")
    status_key, at_key = _CLOCK_COLUMNS[clock]
    status, status_at = TicketFact.__table__.c[status_key], TicketFact.__table__.c[at_key]
    stmt = insert(TicketFact).values({"ticket_id": ticket_id, status_key: outcome.value, at_key: at})
    new_at = stmt.excluded[at_key]
    breached = ClockOutcome.BREACHED.value
    if outcome is ClockOutcome.BREACHED:
        upsert = stmt.on_conflict_do_update(
            index_elements=[TicketFact.ticket_id],
            set_={
                status: breached,
                status_at: case((status == breached, func.least(status_at, new_at)), else_=new_at),
                TicketFact.updated_at: func.now(),
            },
        )
    else:
        upsert = stmt.on_conflict_do_update(
            index_elements=[TicketFact.ticket_id],
            set_={
                status: ClockOutcome.MET.value,
                status_at: func.greatest(status_at, new_at),
                TicketFact.updated_at: func.now(),
            },
            where=status.is_distinct_from(breached),
        )
    await session.execute(upsert)


_CLOCK_COLUMNS: dict[ClockKind, tuple[str, str]] = {
    ClockKind.FIRST_RESPONSE: ("first_response_sla", "first_response_sla_at"),
    ClockKind.RESOLUTION: ("resolution_sla", "resolution_sla_at"),
}
REPORTED_CLOCKS = frozenset(_CLOCK_COLUMNS)


async def record_answer(
    session: AsyncSession, *, ticket_id: uuid.UUID, csat: int, nps: int | None, answered_at: datetime
) -> None:
    """Upsert the customer's satisfaction with the ticket; the latest answer counts (a ticket
    survey asks NPS no longer, so `nps` may be absent)."""
    stmt = insert(TicketFact).values(ticket_id=ticket_id, csat=csat, nps=nps, answered_at=answered_at)
    new = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TicketFact.ticket_id],
            set_={
                TicketFact.csat: new.csat,
                TicketFact.nps: new.nps,
                TicketFact.answered_at: new.answered_at,
                TicketFact.updated_at: func.now(),
            },
            where=or_(TicketFact.answered_at.is_(None), TicketFact.answered_at <= new.answered_at),
        )
    )


async def record_cycle(
    session: AsyncSession, *, ticket_id: uuid.UUID, clock: str, cycle: int, outcome: ClockOutcome, at: datetime
) -> None:
    """Upsert where one cycle of one metric ended, by the rule of `record_clock`: a breach is
    final (the earlier instant kept), of two `met`s the later stop wins."""
    dims = {
        name: select(_FACTS.c[name]).where(_FACTS.c.ticket_id == ticket_id).scalar_subquery() for name in DIMENSIONS
    }
    stmt = insert(ClockFact).values(ticket_id=ticket_id, clock=clock, cycle=cycle, outcome=outcome.value, at=at, **dims)
    new = stmt.excluded
    breached = ClockOutcome.BREACHED.value
    if outcome is ClockOutcome.BREACHED:
        upsert = stmt.on_conflict_do_update(
            index_elements=[ClockFact.ticket_id, ClockFact.clock, ClockFact.cycle],
            set_={
                ClockFact.outcome: breached,
                ClockFact.at: case((ClockFact.outcome == breached, func.least(ClockFact.at, new.at)), else_=new.at),
            },
        )
    else:
        upsert = stmt.on_conflict_do_update(
            index_elements=[ClockFact.ticket_id, ClockFact.clock, ClockFact.cycle],
            set_={ClockFact.at: func.greatest(ClockFact.at, new.at)},
            where=ClockFact.outcome != breached,
        )
    await session.execute(upsert)


async def record_answer_fact(
    session: AsyncSession,
    *,
    survey_id: uuid.UUID,
    ticket_id: uuid.UUID | None,
    customer_id: str,
    kind: str,
    scores: dict[str, int | None],
    answered_at: datetime,
) -> None:
    """Keep one answer's scores (a survey is answered once, so a repeat changes nothing)."""
    stmt = insert(AnswerFact).values(
        survey_id=survey_id,
        ticket_id=ticket_id,
        customer_id=customer_id,
        kind=kind,
        answered_at=answered_at,
        segment=_segment_at(customer_id, answered_at),
        **scores,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[AnswerFact.survey_id]))


async def record_segment(session: AsyncSession, *, customer_id: str, segment: str, changed_at: datetime) -> bool:
    """Keep a segment change and re-label what it covers: the customer's tickets opened and
    answers given from `changed_at` (from the start, for their first change) until their next
    change. False when already known."""
    following = await session.scalar(
        select(func.min(SegmentFact.changed_at)).where(
            SegmentFact.customer_id == customer_id, SegmentFact.changed_at > changed_at
        )
    )
    inserted = await session.scalar(
        insert(SegmentFact)
        .values(customer_id=customer_id, changed_at=changed_at, segment=segment, valid_until=following)
        .on_conflict_do_nothing(index_elements=[SegmentFact.customer_id, SegmentFact.changed_at])
        .returning(SegmentFact.changed_at)
    )
    if inserted is None:
        return False
    # The change before this one (if any) now ends here.
    ended = await session.execute(
        update(SegmentFact)
        .where(
            SegmentFact.customer_id == customer_id,
            SegmentFact.changed_at < changed_at,
            or_(SegmentFact.valid_until.is_(None), SegmentFact.valid_until > changed_at),
        )
        .values(valid_until=changed_at)
    )
    earlier = cast(Any, ended).rowcount or await session.scalar(
        select(func.count()).where(SegmentFact.customer_id == customer_id, SegmentFact.changed_at < changed_at)
    )
    tables = ((_FACTS, "created_at"), (cast(Table, AnswerFact.__table__), "answered_at"))
    for table, instant in tables:  # (the cycles follow: see sync_cycle_dimensions)
        at = table.c[instant]
        until = true() if following is None else at < following
        # The customer's first change also covers what came before it (see `_segment_at`).
        since = true() if not earlier else at >= changed_at
        await session.execute(
            update(table).where(and_(table.c.customer_id == customer_id, since, until)).values(segment=segment)
        )
    return True


DIMENSIONS = ("channel", "category", "department_id", "segment", "origin")
_CLOCKS: Table = cast(Table, ClockFact.__table__)


async def sync_cycle_dimensions(
    session: AsyncSession, *, ticket_id: uuid.UUID | None = None, customer_id: str | None = None
) -> None:
    """Copy a ticket's (or a customer's tickets') dimensions onto their SLA cycles, where they
    differ: after an event that can change them (creation, assignment, recategorisation, a
    segment change)."""
    differs = or_(*[_CLOCKS.c[d].is_distinct_from(_FACTS.c[d]) for d in DIMENSIONS])
    which = _FACTS.c.ticket_id == ticket_id if ticket_id is not None else _FACTS.c.customer_id == customer_id
    await session.execute(
        update(_CLOCKS)
        .where(_CLOCKS.c.ticket_id == _FACTS.c.ticket_id, which, differs)
        .values({d: _FACTS.c[d] for d in DIMENSIONS})
    )


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
