"""All SQL of goals: the figures the report's queries do not already give (complaints, CSAT per
touchpoint, retention of a cohort, the first instant of data) and the baselines admins set.

Complaints and touchpoints read the ticket and answer facts (the read models `facts` writes and
`reports` aggregates); retention reads the segment history customers announce."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, delete, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import AnswerFact, SegmentFact, TicketFact
from ticketloop_retrospective.goals.models import GoalBaseline
from ticketloop_retrospective.reports.domain import Filters
from ticketloop_retrospective.reports.repository import on_tickets
from ticketloop_shared.events import TicketOrigin
from ticketloop_shared.vocabulary import Need, Segment

f = TicketFact
CUSTOMER = TicketOrigin.CUSTOMER.value


async def first_ticket_at(session: AsyncSession) -> datetime | None:
    """When the loop's data begins: the earliest ticket it knows of."""
    return await session.scalar(select(func.min(f.created_at)))


async def complaints(
    session: AsyncSession, *, starts_at: datetime, ends_at: datetime, filters: Filters, channels: Sequence[str]
) -> int:
    """Complaints opened in the window on the given touchpoints: tickets the customer opened
    (origin `customer`) whose need is `complaint`."""
    stmt = select(func.count()).where(
        f.created_at >= starts_at,
        f.created_at < ends_at,
        f.need == Need.COMPLAINT.value,
        f.origin == CUSTOMER,
        f.channel.in_(channels),
        on_tickets(filters),
    )
    return int(await session.scalar(stmt) or 0)


@dataclass(frozen=True)
class TouchpointCsat:
    """Per-ticket satisfaction answered in a window about tickets of one touchpoint."""

    channel: str
    responses: int
    csat_avg: Decimal | float | None


async def touchpoint_csat(
    session: AsyncSession, *, starts_at: datetime, ends_at: datetime, filters: Filters, channels: Sequence[str]
) -> list[TouchpointCsat]:
    """CSAT answered in the window per channel of the ticket it is about, for the given channels
    (answers about a ticket only: a relationship survey belongs to no touchpoint)."""
    a = AnswerFact
    ticket_filters = Filters(channel=filters.channel, category=filters.category, department=filters.department)
    stmt = (
        select(f.channel, func.count(a.csat).label("responses"), func.avg(a.csat).label("csat_avg"))
        .join(f, f.ticket_id == a.ticket_id)
        .where(
            a.answered_at >= starts_at,
            a.answered_at < ends_at,
            a.csat.is_not(None),
            f.channel.in_(channels),
            on_tickets(ticket_filters),
        )
        .group_by(f.channel)
    )
    if filters.segment is not None:
        stmt = stmt.where(a.segment == filters.segment)
    rows = (await session.execute(stmt)).all()
    return [TouchpointCsat(channel=r.channel, responses=r.responses, csat_avg=r.csat_avg) for r in rows]


@dataclass(frozen=True)
class Cohort:
    """A cohort of customers and how many of them are still retained."""

    customers: int
    retained: int


async def retention(session: AsyncSession, *, active_from: datetime, active_until: datetime, at: datetime) -> Cohort:
    """Of the customers active in `[active_from, active_until)` (they opened a ticket themselves,
    origin `customer`, or answered a survey), how many are not in `churn_risk` at `at`: the
    segment change in force then (a customer never given a segment has not churned)."""
    s = SegmentFact
    active = union(
        select(f.customer_id.label("customer_id")).where(
            f.created_at >= active_from, f.created_at < active_until, f.origin == CUSTOMER, f.customer_id.is_not(None)
        ),
        select(AnswerFact.customer_id.label("customer_id")).where(
            AnswerFact.answered_at >= active_from, AnswerFact.answered_at < active_until
        ),
    ).subquery()
    churned = (
        select(s.customer_id)
        .where(
            s.segment == Segment.CHURN_RISK.value,
            s.changed_at < at,
            or_(s.valid_until.is_(None), s.valid_until >= at),
        )
        .subquery()
    )
    stmt = select(
        func.count().label("customers"),
        func.count().filter(churned.c.customer_id.is_(None)).label("retained"),
    ).select_from(active.outerjoin(churned, and_(churned.c.customer_id == active.c.customer_id)))
    row = (await session.execute(stmt)).one()
    return Cohort(customers=row.customers, retained=row.retained)


async def baseline(session: AsyncSession, goal: str, *, for_update: bool = False) -> GoalBaseline | None:
    """The baseline an admin set for `goal`; `for_update` holds it until the transaction ends."""
    if not for_update:
        return await session.get(GoalBaseline, goal)
    stmt = select(GoalBaseline).where(GoalBaseline.goal == goal).with_for_update()
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def baselines(session: AsyncSession) -> dict[str, GoalBaseline]:
    """Every baseline admins set, by goal."""
    return {row.goal: row for row in (await session.scalars(select(GoalBaseline))).all()}


async def save_baseline(session: AsyncSession, row: GoalBaseline) -> None:
    """Add or update a baseline."""
    session.add(row)
    await session.flush()


async def delete_baseline(session: AsyncSession, goal: str) -> None:
    """Remove a goal's baseline (it falls back to the setting, then the default)."""
    await session.execute(delete(GoalBaseline).where(GoalBaseline.goal == goal))
