"""All SQL about customers.

Each write is an `INSERT … ON CONFLICT DO UPDATE` with its merge rule in the statement (LEAST for
a first sighting, GREATEST for a latest interaction, the newer profile wins), so events applied
in any order, any number of times, by any consumer group member, leave the same row; the upsert
also locks the customer's row until the transaction ends, which serialises the segment decision
that follows it.
"""

from __future__ import annotations

import typing
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Double,
    Integer,
    Select,
    String,
    Table,
    TableValuedAlias,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.expression import Grouping
from sqlalchemy.types import TypeEngine

from ticketloop_retrospective.customers.domain import Profile, top_spend_rank
from ticketloop_retrospective.customers.models import (
    Customer,
    CustomerAnswer,
    CustomerObjection,
    CustomerTicket,
    SegmentChange,
    SpendThreshold,
)

PROACTIVE_CHANNEL = "proactive"
COMPLAINT = "complaint"
RECOVERY = "recovery"


def _waves(rows: Sequence[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
    """`rows` in waves holding each `key` once, in their order: written wave by wave, a run of
    upserts has the result of writing its rows one by one (one statement cannot upsert a row twice)."""
    waves: list[list[dict[str, Any]]] = []
    seen: Counter[Any] = Counter()
    for row in rows:
        index = seen[row[key]]
        seen[row[key]] += 1
        if index == len(waves):
            waves.append([])
        waves[index].append(row)
    return waves


def _rows(**columns: TypeEngine[Any]) -> TableValuedAlias:
    """A run's rows as a table `v`: one array parameter per column (named after it), unnested side
    by side, so one statement with one cached plan writes any number of rows in one round trip."""
    arrays = [cast(bindparam(name), ARRAY(type_)) for name, type_ in columns.items()]
    names = [column(name, type_) for name, type_ in columns.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="v")


def _params(rows: Sequence[dict[str, Any]], table: TableValuedAlias) -> dict[str, list[Any]]:
    """The array parameters of `_rows`: each column's values, row by row."""
    return {name: [row[name] for row in rows] for name in table.c.keys()}


_AT = DateTime(timezone=True)
_CUSTOMER_ROWS = _rows(
    customer_id=String(),
    seen_at=_AT,
    customer_since=Date(),
    annual_spend=Double(),
    preferred_channel=String(),
    profile_at=_AT,
    interaction_at=_AT,
)


def _customer_upsert() -> Any:
    """A new customer counts as swept when first seen: the run that records them decides their
    segment (`service.evaluate_many`), so the daily sweep looks at them a day later, not at its
    next pass (which, after a burst of new customers, re-decided every one of them at once while
    the consumer waited on their rows)."""
    c, v = Customer.__table__.c, _CUSTOMER_ROWS.c
    stmt = insert(typing.cast(Table, Customer.__table__)).from_select(
        [
            *("customer_id", "first_seen_at", "customer_since", "annual_spend", "preferred_channel", "profile_at"),
            *("first_interaction_at", "last_interaction_at", "swept_at"),
        ],
        select(
            *(v.customer_id, v.seen_at, v.customer_since, v.annual_spend, v.preferred_channel, v.profile_at),
            *(v.interaction_at, v.interaction_at, v.seen_at),
        ),
    )
    new = stmt.excluded
    newer = and_(new.profile_at.is_not(None), or_(c.profile_at.is_(None), new.profile_at >= c.profile_at))

    def merged(column: str) -> Any:
        return case(
            (newer, func.coalesce(new[column], c[column])),
            else_=func.coalesce(c[column], new[column]),
        )

    return stmt.on_conflict_do_update(
        index_elements=[c.customer_id],
        set_={
            "first_seen_at": func.least(c.first_seen_at, new.first_seen_at),
            "customer_since": merged("customer_since"),
            "annual_spend": merged("annual_spend"),
            "preferred_channel": merged("preferred_channel"),
            "profile_at": func.greatest(c.profile_at, new.profile_at),
            "first_interaction_at": func.least(c.first_interaction_at, new.first_interaction_at),
            "last_interaction_at": func.greatest(c.last_interaction_at, new.last_interaction_at),
            "updated_at": func.now(),
        },
    )


_RECORD_CUSTOMERS = _customer_upsert()


def sighting(
    *, customer_id: str, seen_at: datetime, profile: Profile | None = None, interaction_at: datetime | None = None
) -> dict[str, Any]:
    """A sighting of the customer, as a row of `record_customers`."""
    return {
        "customer_id": customer_id,
        "seen_at": seen_at,
        "customer_since": profile.customer_since if profile else None,
        "annual_spend": profile.annual_spend if profile else None,
        "preferred_channel": profile.preferred_channel if profile else None,
        "profile_at": profile.at if profile else None,
        "interaction_at": interaction_at,
    }


async def record_customers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert sightings of customers (`sighting` rows, in their order): the earliest sighting,
    the earliest and latest interaction, and the profile of the newest ticket that gave one (a
    newer ticket's blank field keeps the older value: "latest known")."""
    for wave in _waves(rows, "customer_id"):
        await session.execute(_RECORD_CUSTOMERS, _params(wave, _CUSTOMER_ROWS))


async def record_customer(
    session: AsyncSession,
    *,
    customer_id: str,
    seen_at: datetime,
    profile: Profile | None = None,
    interaction_at: datetime | None = None,
) -> None:
    """Upsert one sighting of the customer (see `record_customers`)."""
    row = sighting(customer_id=customer_id, seen_at=seen_at, profile=profile, interaction_at=interaction_at)
    await record_customers(session, [row])


_TICKET_ROWS = _rows(
    ticket_id=Uuid(),
    customer_id=String(),
    channel=String(),
    created_at=_AT,
    need=String(),
    origin=String(),
    origin_id=String(),
    resolved_at=_AT,
    reopened_at=_AT,
)


def _ticket_upsert() -> Any:
    t, v = CustomerTicket.__table__.c, _TICKET_ROWS.c
    names = list(_TICKET_ROWS.c.keys())
    stmt = insert(typing.cast(Table, CustomerTicket.__table__)).from_select(names, select(*(v[name] for name in names)))
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[t.ticket_id],
        set_={
            "need": func.coalesce(t.need, new.need),
            "origin": func.coalesce(t.origin, new.origin),
            "origin_id": func.coalesce(t.origin_id, new.origin_id),
            "resolved_at": func.greatest(t.resolved_at, new.resolved_at),
            "reopened_at": func.greatest(t.reopened_at, new.reopened_at),
        },
    )


_RECORD_TICKETS = _ticket_upsert()


async def record_tickets(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert what ticket events say about their tickets (rows keyed as `_TICKET_ROWS`' columns,
    in their order): the latest resolution and reopening (GREATEST ignores NULLs), need and
    origin once known."""
    for wave in _waves(rows, "ticket_id"):
        await session.execute(_RECORD_TICKETS, _params(wave, _TICKET_ROWS))


async def ticket(session: AsyncSession, ticket_id: uuid.UUID) -> CustomerTicket | None:
    """The ticket as the customer model knows it."""
    return await session.get(CustomerTicket, ticket_id)


async def record_answer(
    session: AsyncSession, *, survey_id: uuid.UUID, customer_id: str, score: float, kind: str, answered_at: datetime
) -> None:
    """Keep one answer's satisfaction (a survey is answered once; v1 and v2 of it are one row)."""
    await session.execute(
        insert(CustomerAnswer)
        .values(survey_id=survey_id, customer_id=customer_id, score=score, kind=kind, answered_at=answered_at)
        .on_conflict_do_nothing(index_elements=[CustomerAnswer.survey_id])
    )


async def record_objection(
    session: AsyncSession, *, survey_id: uuid.UUID, customer_id: str, ticket_id: uuid.UUID | None, raised_at: datetime
) -> None:
    """Keep a low score as an objection (once per survey)."""
    await session.execute(
        insert(CustomerObjection)
        .values(survey_id=survey_id, customer_id=customer_id, ticket_id=ticket_id, raised_at=raised_at)
        .on_conflict_do_nothing(index_elements=[CustomerObjection.survey_id])
    )


async def lock(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer's row, locked for the rest of the transaction (fresh from the database)."""
    stmt = select(Customer).where(Customer.customer_id == customer_id).with_for_update()
    result = await session.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def lock_many(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, Customer]:
    """The customers' rows, locked for the rest of the transaction (fresh from the database), in
    id order, so two members locking overlapping runs cannot deadlock."""
    stmt = (
        select(Customer).where(Customer.customer_id.in_(customer_ids)).order_by(Customer.customer_id).with_for_update()
    )
    result = await session.scalars(stmt.execution_options(populate_existing=True))
    return {customer.customer_id: customer for customer in result}


async def get(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer, unlocked (for reading)."""
    return await session.get(Customer, customer_id)


async def anchored_in(
    session: AsyncSession,
    *,
    segments: Sequence[str],
    since_from: date | None = None,
    since_to: date | None = None,
    seen_from: datetime | None = None,
    seen_to: datetime | None = None,
    after: tuple[date | datetime, str] | None = None,
    limit: int,
) -> Sequence[Customer]:
    """Customers with a segment (one of `segments`, when given) whose anchor lies in the range:
    tenure start dates, or first sightings. In anchor order, then id, from just `after` that
    (anchor, id) pair, so a caller pages through the range without skipping anyone."""
    stmt = select(Customer).where(Customer.segment.is_not(None))
    if segments:
        stmt = stmt.where(Customer.segment.in_(segments))
    if since_from is not None and since_to is not None:
        anchor: Any = Customer.customer_since
        stmt = stmt.where(Customer.customer_since.between(since_from, since_to))
    elif seen_from is not None and seen_to is not None:
        anchor = Customer.first_seen_at
        stmt = stmt.where(Customer.first_seen_at.between(seen_from, seen_to))
    else:
        raise ValueError("give a tenure range or a first-seen range")
    if after is not None:
        stmt = stmt.where(tuple_(anchor, Customer.customer_id) > tuple_(*after))
    return (await session.scalars(stmt.order_by(anchor, Customer.customer_id).limit(limit))).all()


def _open(t: Any) -> Any:
    """A ticket still open: never resolved, or reopened after its latest resolution."""
    return or_(t.resolved_at.is_(None), and_(t.reopened_at.is_not(None), t.reopened_at > t.resolved_at))


def _solved(t: Any) -> Any:
    return and_(t.resolved_at.is_not(None), or_(t.reopened_at.is_(None), t.reopened_at <= t.resolved_at))


async def recent_scores(session: AsyncSession, customer_id: str, *, limit: int) -> list[float]:
    """The customer's latest answers' 0–100 satisfaction, newest first."""
    rows = await session.scalars(
        select(CustomerAnswer.score)
        .where(CustomerAnswer.customer_id == customer_id)
        .order_by(CustomerAnswer.answered_at.desc(), CustomerAnswer.survey_id.desc())
        .limit(limit)
    )
    return list(rows)


async def recent_scores_of(session: AsyncSession, customer_ids: Sequence[str], *, limit: int) -> dict[str, list[float]]:
    """`recent_scores` of each customer (none: no answer)."""
    rank = (
        func.row_number()
        .over(
            partition_by=CustomerAnswer.customer_id,
            order_by=(CustomerAnswer.answered_at.desc(), CustomerAnswer.survey_id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(CustomerAnswer.customer_id, CustomerAnswer.score, rank)
        .where(CustomerAnswer.customer_id.in_(customer_ids))
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.customer_id, ranked.c.score).where(ranked.c.rank <= limit).order_by(ranked.c.rank)
    )
    found: dict[str, list[float]] = {}
    for customer_id, score in rows:
        found.setdefault(customer_id, []).append(score)
    return found


async def answers(session: AsyncSession, customer_id: str, *, limit: int) -> Sequence[CustomerAnswer]:
    """The customer's answers, newest first."""
    rows = await session.scalars(
        select(CustomerAnswer)
        .where(CustomerAnswer.customer_id == customer_id)
        .order_by(CustomerAnswer.answered_at.desc(), CustomerAnswer.survey_id.desc())
        .limit(limit)
    )
    return rows.all()


def low_score_surveys() -> Select[Any]:
    """The survey ids of every low score (`feedback.low_score`) known, as a subquery."""
    return select(CustomerObjection.survey_id)


@dataclass(frozen=True)
class OpenObjection:
    """An objection that still stands: a low score or a complaint ticket."""

    kind: str
    source_id: str
    raised_at: datetime


async def open_objections(session: AsyncSession, customer_id: str) -> list[OpenObjection]:
    """The customer's objections that still stand, oldest first.

    - a complaint: a ticket the customer reported (not a proactive one) with need `complaint`,
      standing while the ticket is open;
    - a low score (`feedback.low_score`), standing until the recovery ticket opened for that
      survey (origin `recovery`, origin_id = survey id) is resolved and not reopened since.
    """
    t = CustomerTicket.__table__.alias("t")
    complaints = await session.execute(
        select(CustomerTicket.ticket_id, CustomerTicket.created_at).where(
            CustomerTicket.customer_id == customer_id,
            CustomerTicket.need == COMPLAINT,
            CustomerTicket.channel != PROACTIVE_CHANNEL,
            _open(CustomerTicket),
        )
    )
    recovered = exists().where(
        t.c.origin == RECOVERY,
        t.c.origin_id == cast(CustomerObjection.survey_id, String),
        _solved(t.c),
    )
    lows = await session.execute(
        select(CustomerObjection.survey_id, CustomerObjection.raised_at).where(
            CustomerObjection.customer_id == customer_id, ~recovered
        )
    )
    found = [OpenObjection("complaint", str(r.ticket_id), r.created_at) for r in complaints]
    found += [OpenObjection("low_score", str(r.survey_id), r.raised_at) for r in lows]
    return sorted(found, key=lambda o: (o.raised_at, o.source_id))


async def open_objection_counts(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, int]:
    """How many objections of each customer still stand (`open_objections`; none: zero)."""
    t = CustomerTicket.__table__.alias("t")
    complaints = select(CustomerTicket.customer_id).where(
        CustomerTicket.customer_id.in_(customer_ids),
        CustomerTicket.need == COMPLAINT,
        CustomerTicket.channel != PROACTIVE_CHANNEL,
        _open(CustomerTicket),
    )
    recovered = exists().where(
        t.c.origin == RECOVERY,
        t.c.origin_id == cast(CustomerObjection.survey_id, String),
        _solved(t.c),
    )
    lows = select(CustomerObjection.customer_id).where(CustomerObjection.customer_id.in_(customer_ids), ~recovered)
    standing = complaints.union_all(lows).subquery()
    rows = await session.execute(select(standing.c.customer_id, func.count()).group_by(standing.c.customer_id))
    return {str(customer_id): int(count) for customer_id, count in rows}


@dataclass(frozen=True)
class TicketCounts:
    """The customer's tickets: the ones they reported (opened, still open, resolved) and the
    ones the loop opened for them (recovery and care)."""

    opened: int
    open: int
    resolved: int
    proactive: int


async def ticket_counts(session: AsyncSession, customer_id: str) -> TicketCounts:
    """Count the customer's tickets by what they are and where they stand."""
    t = CustomerTicket
    mine = t.channel != PROACTIVE_CHANNEL
    row = (
        await session.execute(
            select(
                func.count().filter(mine).label("opened"),
                func.count().filter(and_(mine, _open(t))).label("open"),
                func.count().filter(and_(mine, _solved(t))).label("resolved"),
                func.count().filter(~mine).label("proactive"),
            ).where(t.customer_id == customer_id)
        )
    ).one()
    return TicketCounts(opened=row.opened, open=row.open, resolved=row.resolved, proactive=row.proactive)


@dataclass(frozen=True)
class SegmentMove:
    """A customer put in a new segment: what `set_segments` writes."""

    customer: Customer
    segment: str
    previous: str | None
    reasons: list[str]
    at: datetime


# One row per move; the reasons of all moves in one array, each move's its slice
# (an array of arrays would be one flat array to unnest). Parameter names of its own: an UPDATE
# reserves its table's column names for their new values.
_MOVE_ROWS = _rows(
    customer=String(), new_segment=String(), previous=String(), at=_AT, reasons_from=Integer(), reasons_to=Integer()
)
_m = _MOVE_ROWS.c
# (parenthesised: PostgreSQL subscripts a cast only in parentheses)
_MOVE_REASONS = Grouping(cast(bindparam("all_reasons"), ARRAY(String(64))))[_m.reasons_from : _m.reasons_to]
_CUSTOMERS = typing.cast(Table, Customer.__table__)
_MOVE_CUSTOMERS = (
    update(_CUSTOMERS)
    .where(_CUSTOMERS.c.customer_id == _m.customer)
    .values(segment=_m.new_segment, segment_reasons=_MOVE_REASONS, segment_since=_m.at, updated_at=func.now())
)
_MOVE_HISTORY = insert(typing.cast(Table, SegmentChange.__table__)).from_select(
    ["customer_id", "segment", "previous_segment", "reasons", "changed_at"],
    select(_m.customer, _m.new_segment, _m.previous, _MOVE_REASONS, _m.at),
)


async def set_segments(session: AsyncSession, moves: Sequence[SegmentMove]) -> None:
    """Put customers (each once) in their new segments and add the changes to the history, in
    the moves' order (two statements, whatever their number)."""
    if not moves:
        return
    params: dict[str, list[Any]] = {name: [] for name in (*_MOVE_ROWS.c.keys(), "all_reasons")}
    for move in moves:
        start = len(params["all_reasons"]) + 1  # (a PostgreSQL array counts from 1)
        params["all_reasons"].extend(move.reasons)
        for name, value in (
            ("customer", move.customer.customer_id),
            ("new_segment", move.segment),
            ("previous", move.previous),
            ("at", move.at),
            ("reasons_from", start),
            ("reasons_to", len(params["all_reasons"])),
        ):
            params[name].append(value)
    await session.execute(_MOVE_CUSTOMERS, params)
    await session.execute(_MOVE_HISTORY, params)
    for move in moves:  # the loaded rows as the database now has them, without another write
        set_committed_value(move.customer, "segment", move.segment)
        set_committed_value(move.customer, "segment_reasons", list(move.reasons))
        set_committed_value(move.customer, "segment_since", move.at)


async def set_reasons(session: AsyncSession, *, customer_id: str, reasons: list[str]) -> None:
    """Keep why the customer is in their (unchanged) segment up to date."""
    await session.execute(
        update(Customer)
        .where(Customer.customer_id == customer_id, Customer.segment_reasons != reasons)
        .values(segment_reasons=reasons)
    )


async def history(session: AsyncSession, customer_id: str, *, limit: int) -> Sequence[SegmentChange]:
    """The customer's segment changes, newest first."""
    rows = await session.scalars(
        select(SegmentChange)
        .where(SegmentChange.customer_id == customer_id)
        .order_by(SegmentChange.changed_at.desc(), SegmentChange.id.desc())
        .limit(limit)
    )
    return rows.all()


async def cached_threshold(session: AsyncSession) -> SpendThreshold | None:
    """The cached top-spend line, if computed."""
    return await session.get(SpendThreshold, 1, populate_existing=True)


async def compute_threshold(session: AsyncSession, *, share: float, min_customers: int, at: datetime) -> float | None:
    """Recompute the top-spend line over every known spend (`domain.spend_threshold`, in SQL: the
    spend ranked ceil(known × share) from the top) and cache it. A customer's spend is their
    orders' when any order is known, else the one their tickets reported (`Customer.known_spend`)."""
    spend = func.coalesce(Customer.order_spend, Customer.annual_spend)
    known = await session.scalar(select(func.count()).where(spend.is_not(None))) or 0
    threshold: float | None = None
    if known >= min_customers:
        threshold = await session.scalar(
            select(spend)
            .where(spend.is_not(None))
            .order_by(spend.desc())
            .offset(top_spend_rank(known, share) - 1)
            .limit(1)
        )
    stmt = insert(SpendThreshold).values(id=1, threshold=threshold, known=known, computed_at=at)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[SpendThreshold.id],
            set_={"threshold": threshold, "known": known, "computed_at": at},
        )
    )
    return threshold


async def due_for_sweep(session: AsyncSession, *, swept_before: datetime, limit: int) -> list[str]:
    """Customers the sweep has not looked at since `swept_before`, locked; rows another replica
    holds are skipped, so replicas split the work."""
    rows = await session.scalars(
        select(Customer.customer_id)
        .where(or_(Customer.swept_at.is_(None), Customer.swept_at < swept_before))
        .order_by(Customer.customer_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def mark_swept(session: AsyncSession, customer_ids: Sequence[str], *, at: datetime) -> None:
    """The sweep looked at these customers at `at`."""
    if customer_ids:
        await session.execute(update(Customer).where(Customer.customer_id.in_(customer_ids)).values(swept_at=at))


async def page(
    session: AsyncSession,
    *,
    segment: str | None,
    after: str | None,
    limit: int,
    among: Select[Any] | None = None,
) -> Sequence[Customer]:
    """Customers by id after `after`, optionally of one segment, and only those `among` returns."""
    stmt = select(Customer).order_by(Customer.customer_id).limit(limit)
    if among is not None:
        stmt = stmt.where(Customer.customer_id.in_(among))
    if segment is not None:
        stmt = stmt.where(Customer.segment == segment)
    if after is not None:
        stmt = stmt.where(Customer.customer_id > after)
    return (await session.scalars(stmt)).all()


async def counts_now(session: AsyncSession) -> dict[str, int]:
    """How many customers are in each segment now."""
    rows = await session.execute(
        select(Customer.segment, func.count()).where(Customer.segment.is_not(None)).group_by(Customer.segment)
    )
    return {str(segment): int(count) for segment, count in rows}


async def counts_at(session: AsyncSession, instants: Sequence[datetime]) -> dict[datetime, dict[str, int]]:
    """How many customers were in each segment at each instant, from the history: each customer
    counts in the segment of their latest change before the instant."""
    if not instants:
        return {}
    result: dict[datetime, dict[str, int]] = {at: {} for at in instants}
    stmt = text(
        """
        SELECT e.at AS at, s.segment AS segment, count(*) AS customers
        FROM unnest(CAST(:instants AS timestamptz[])) AS e(at)
        CROSS JOIN LATERAL (
            SELECT DISTINCT ON (h.customer_id) h.segment
            FROM segment_history h
            WHERE h.changed_at < e.at
            ORDER BY h.customer_id, h.changed_at DESC, h.id DESC
        ) AS s
        GROUP BY e.at, s.segment
        """
    )
    for row in await session.execute(stmt, {"instants": list(instants)}):
        result[row.at][row.segment] = row.customers
    return result


@dataclass(frozen=True)
class Ratio:
    """Part of a cohort that reached a goal."""

    cohort: int
    reached: int


async def activation(session: AsyncSession, *, entered_from: datetime, matured_by: date, within_days: int) -> Ratio:
    """New customers' activation: the customers who became `new` since `entered_from` and whose
    first `within_days` days of relationship are over by `matured_by` (the cohort), and of those
    the ones with a customer interaction (a ticket they reported, a message, a survey answer…)
    within `within_days` days of their tenure start."""
    start = func.coalesce(Customer.customer_since, cast(func.timezone("UTC", Customer.first_seen_at), Date))
    became_new = exists().where(
        SegmentChange.customer_id == Customer.customer_id,
        SegmentChange.segment == "new",
        SegmentChange.changed_at >= entered_from,
    )
    # Midnight UTC `within_days` after the tenure start (a date plus days is a date).
    window_end = func.timezone("UTC", cast(start + within_days, TIMESTAMP))
    matured = start + within_days <= matured_by
    row = (
        await session.execute(
            select(
                func.count().label("cohort"),
                func.count()
                .filter(and_(Customer.first_interaction_at.is_not(None), Customer.first_interaction_at < window_end))
                .label("reached"),
            ).where(became_new, matured)
        )
    ).one()
    return Ratio(cohort=row.cohort, reached=row.reached)


async def segment_satisfaction(session: AsyncSession, *, segment: str, since: datetime) -> tuple[int, float | None]:
    """Answers given since `since` by the customers now in `segment`, and their average 0–100."""
    row = (
        await session.execute(
            select(func.count(), func.avg(CustomerAnswer.score))
            .join(Customer, Customer.customer_id == CustomerAnswer.customer_id)
            .where(Customer.segment == segment, CustomerAnswer.answered_at >= since)
        )
    ).one()
    average = row[1]
    return row[0], None if average is None else float(average)


async def recovery(session: AsyncSession, *, entered_from: datetime) -> Ratio:
    """Churn-risk recovery: customers who entered churn_risk since `entered_from` (the cohort),
    and of those the ones with a later change to another segment."""
    h, later = SegmentChange.__table__.alias("h"), SegmentChange.__table__.alias("later")
    left = exists().where(
        later.c.customer_id == h.c.customer_id,
        later.c.changed_at >= h.c.changed_at,
        later.c.id > h.c.id,
        later.c.segment != "churn_risk",
    )
    row = (
        await session.execute(
            select(
                func.count(func.distinct(h.c.customer_id)).label("cohort"),
                func.count(func.distinct(h.c.customer_id)).filter(left).label("reached"),
            ).where(h.c.segment == "churn_risk", h.c.changed_at >= entered_from)
        )
    ).one()
    return Ratio(cohort=row.cohort, reached=row.reached)


async def set_order_stats(
    session: AsyncSession,
    *,
    customer_id: str,
    order_spend: float | None,
    recent_purchases: int,
    spend_rising: bool,
    at: datetime,
) -> None:
    """Keep what the customer's orders say as of `at`."""
    await session.execute(
        update(Customer)
        .where(Customer.customer_id == customer_id)
        .values(
            order_spend=order_spend, recent_purchases=recent_purchases, spend_rising=spend_rising, order_stats_at=at
        )
    )
