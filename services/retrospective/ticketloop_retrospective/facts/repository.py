"""All SQL about ticket facts.

Every write is one `INSERT … ON CONFLICT (ticket_id) DO UPDATE` touching only the columns its
event owns, with the merge rule in the statement itself: the row is locked while the rule is
evaluated, so two services' events for one ticket, applied concurrently by two consumer group
members, cannot lose each other's update.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, case, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.facts.models import TicketFact
from ticketloop_shared.events import ClockKind, ClockOutcome

_FACTS: Table = cast(Table, TicketFact.__table__)
_insert = insert(_FACTS)
# Built once, executed with parameters: the compiled statements are cached (a consumer applies
# hundreds of these a second).
_RECORD_TICKET = _insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        "number": _insert.excluded.number,
        "channel": _insert.excluded.channel,
        "category": _insert.excluded.category,
        "urgency": _insert.excluded.urgency,
        "customer_id": _insert.excluded.customer_id,
        "created_at": _insert.excluded.created_at,
        "first_response_at": func.least(_FACTS.c.first_response_at, _insert.excluded.first_response_at),
        "resolved_at": func.greatest(_FACTS.c.resolved_at, _insert.excluded.resolved_at),
        "updated_at": func.now(),
    },
)
_RECORD_ASSIGNMENT = _insert.on_conflict_do_update(
    index_elements=[_FACTS.c.ticket_id],
    set_={
        "assigned_at": _insert.excluded.assigned_at,
        "agent_id": _insert.excluded.agent_id,
        "department_id": _insert.excluded.department_id,
        "updated_at": func.now(),
    },
    where=or_(_FACTS.c.assigned_at.is_(None), _FACTS.c.assigned_at <= _insert.excluded.assigned_at),
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
) -> None:
    """Upsert what a ticket event says about its ticket.

    The descriptive columns are fixed at creation, so any event's copy may fill them. The first
    response is the earliest reply seen and the resolution the latest (LEAST/GREATEST ignore
    NULLs, so an event that does not know a time leaves it alone).
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
        },
    )


async def record_assignment(
    session: AsyncSession, *, ticket_id: uuid.UUID, assigned_at: datetime, agent_id: str, department_id: str
) -> None:
    """Upsert the ticket's owner; an older assignment arriving late does not replace a newer one."""
    await session.execute(
        _RECORD_ASSIGNMENT,
        {"ticket_id": ticket_id, "assigned_at": assigned_at, "agent_id": agent_id, "department_id": department_id},
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
