"""All SQL about surveys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.surveys.models import Survey


async def create_unless_exists(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    ticket_number: str,
    customer_id: str,
    token: str,
    created_at: datetime,
    expires_at: datetime,
) -> Survey | None:
    """Insert the ticket's survey; None when it already has one (the insert is then a no-op)."""
    stmt = (
        insert(Survey)
        .values(
            ticket_id=ticket_id,
            ticket_number=ticket_number,
            customer_id=customer_id,
            token=token,
            created_at=created_at,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=[Survey.ticket_id])
        .returning(Survey)
    )
    return await session.scalar(stmt)


async def undelivered(session: AsyncSession, *, limit: int, after: uuid.UUID | None, now: datetime) -> list[Survey]:
    """Open surveys whose link was not reported delivered, in creation order (ids are
    time-ordered, so the id is the cursor)."""
    stmt = select(Survey).where(Survey.delivered_at.is_(None), Survey.answered_at.is_(None), Survey.expires_at > now)
    if after is not None:
        stmt = stmt.where(Survey.id > after)
    return list((await session.scalars(stmt.order_by(Survey.id).limit(limit))).all())


async def mark_delivered(session: AsyncSession, *, survey_id: uuid.UUID, now: datetime) -> datetime | None:
    """Set `delivered_at` once; the time it holds, or None for an unknown survey."""
    stmt = (
        update(Survey)
        .where(Survey.id == survey_id)
        .values(delivered_at=func.coalesce(Survey.delivered_at, now))
        .returning(Survey.delivered_at)
    )
    delivered: datetime | None = await session.scalar(stmt)
    return delivered


async def by_token(session: AsyncSession, token: str) -> Survey | None:
    """The survey behind a link."""
    return await session.scalar(select(Survey).where(Survey.token == token))


async def by_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Survey | None:
    """A ticket's survey."""
    return await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))


async def record_answer(
    session: AsyncSession,
    *,
    token: str,
    csat: int,
    nps: int,
    comment: str | None,
    answered_at: datetime,
) -> Survey | None:
    """Store the answer in one statement; None unless the survey exists, is unanswered and still open.

    The condition and the write are one UPDATE, so of two racing answers exactly one matches:
    the other waits on the row lock, then re-checks and finds it answered.
    """
    stmt = (
        update(Survey)
        .where(Survey.token == token, Survey.answered_at.is_(None), Survey.expires_at > answered_at)
        .values(csat=csat, nps=nps, comment=comment, answered_at=answered_at)
        .returning(Survey)
    )
    return await session.scalar(stmt)
