"""All SQL about ticket facts.

Every write is one `INSERT … ON CONFLICT (ticket_id) DO UPDATE` touching only the columns its
event owns, with the merge rule in the statement itself: the row is locked while the rule is
evaluated, so two services' events for one ticket, applied concurrently by two consumer group
members, cannot lose each other's update.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import TicketFact
from ticketloop_shared.events import ClockKind, ClockOutcome


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
) -> None:
    """Upsert what a ticket event says about its ticket.

    The descriptive columns are fixed at creation, so any event's copy may fill them. The first
    response is the earliest reply seen and the resolution the latest (LEAST/GREATEST ignore
    NULLs, so an event that does not know a time leaves it alone).
    """
    stmt = insert(TicketFact).values(
        ticket_id=ticket_id,
        number=number,
        channel=channel,
        category=category,
        urgency=urgency,
        customer_id=customer_id,
        created_at=created_at,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
    )
    new = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TicketFact.ticket_id],
            set_={
                TicketFact.number: new.number,
                TicketFact.channel: new.channel,
                TicketFact.category: new.category,
                TicketFact.urgency: new.urgency,
                TicketFact.customer_id: new.customer_id,
                TicketFact.created_at: new.created_at,
                TicketFact.first_response_at: func.least(TicketFact.first_response_at, new.first_response_at),
                TicketFact.resolved_at: func.greatest(TicketFact.resolved_at, new.resolved_at),
                TicketFact.updated_at: func.now(),
            },
        )
    )


async def record_assignment(
    session: AsyncSession, *, ticket_id: uuid.UUID, assigned_at: datetime, agent_id: str, department_id: str
) -> None:
    """Upsert the ticket's owner; an older assignment arriving late does not replace a newer one."""
    stmt = insert(TicketFact).values(
        ticket_id=ticket_id, assigned_at=assigned_at, agent_id=agent_id, department_id=department_id
    )
    new = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TicketFact.ticket_id],
            set_={
                TicketFact.assigned_at: new.assigned_at,
                TicketFact.agent_id: new.agent_id,
                TicketFact.department_id: new.department_id,
                TicketFact.updated_at: func.now(),
            },
            where=or_(TicketFact.assigned_at.is_(None), TicketFact.assigned_at <= new.assigned_at),
        )
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


async def record_answer(
    session: AsyncSession, *, ticket_id: uuid.UUID, csat: int, nps: int, answered_at: datetime
) -> None:
    """Upsert the customer's satisfaction with the ticket; the latest answer counts."""
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
