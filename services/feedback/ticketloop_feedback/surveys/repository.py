"""All SQL about surveys and what feedback remembers of customers and reopens (templates' is
`templates.repository`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, any_, bindparam, case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.surveys.domain import SurveyStatus
from ticketloop_feedback.surveys.models import Customer, ReopenedTicket, Survey, SurveyLink, TicketDepartment
from ticketloop_shared.events import SurveyKind

# --- scheduling -------------------------------------------------------------------------------


async def schedule(session: AsyncSession, **values: Any) -> Survey | None:
    """Insert a survey; None when its resolution or period already has one (nothing is written)."""
    stmt = insert(Survey).values(**values).on_conflict_do_nothing().returning(Survey)
    return await session.scalar(stmt)


async def schedule_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Survey]:
    """Insert surveys in one statement (the rows have the same columns); those whose resolution or
    period already has one are skipped and not returned."""
    if not rows:
        return []
    stmt = insert(Survey).on_conflict_do_nothing().returning(Survey)
    return list((await session.scalars(stmt, list(rows))).all())


async def reinstate(session: AsyncSession, *, customer_id: str, kind: SurveyKind, period: str) -> Survey | None:
    """Put back a relationship survey withdrawn before it went out (the customer is back in the
    segment within the same period)."""
    stmt = (
        update(Survey)
        .where(
            Survey.customer_id == customer_id,
            Survey.kind == kind.value,
            Survey.period == period,
            Survey.sent_at.is_(None),
            Survey.cancelled_at.is_not(None),
        )
        .values(cancelled_at=None, cancel_reason=None)
        .returning(Survey)
    )
    return await session.scalar(stmt)


async def last_reopen(session: AsyncSession, ticket_id: uuid.UUID) -> datetime | None:
    """The latest reopen seen of a ticket."""
    reopened: datetime | None = await session.scalar(
        select(ReopenedTicket.reopened_at).where(ReopenedTicket.ticket_id == ticket_id)
    )
    return reopened


async def record_reopen(session: AsyncSession, *, ticket_id: uuid.UUID, reopened_at: datetime) -> None:
    """Remember the ticket's latest reopen (an older one arriving late changes nothing)."""
    stmt = insert(ReopenedTicket).values(ticket_id=ticket_id, reopened_at=reopened_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReopenedTicket.ticket_id],
        set_={"reopened_at": func.greatest(ReopenedTicket.reopened_at, stmt.excluded.reopened_at)},
    )
    await session.execute(stmt)


def _withdrawable(now: datetime) -> ColumnElement[bool]:
    """Scheduled, or sent and still open: what a cancellation can still withdraw."""
    return and_(
        Survey.cancelled_at.is_(None),
        Survey.answered_at.is_(None),
        or_(Survey.sent_at.is_(None), Survey.expires_at > now),
    )


async def cancel_ticket_surveys(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    resolved_until: datetime,
    inclusive: bool,
    now: datetime,
    reason: str,
) -> list[Survey]:
    """Withdraw the ticket's surveys of resolutions up to `resolved_until` that are not answered,
    expired or withdrawn already; the ones withdrawn."""
    up_to = Survey.resolved_at <= resolved_until if inclusive else Survey.resolved_at < resolved_until
    stmt = (
        update(Survey)
        .where(Survey.kind == SurveyKind.TICKET.value, Survey.ticket_id == ticket_id, up_to, _withdrawable(now))
        .values(cancelled_at=now, cancel_reason=reason)
        .returning(Survey)
    )
    return list((await session.scalars(stmt)).all())


async def cancel_scheduled_of(
    session: AsyncSession, *, customer_ids: Sequence[str], kind: SurveyKind, now: datetime, reason: str
) -> list[Survey]:
    """`cancel_scheduled` for several customers in one statement; the surveys withdrawn."""
    stmt = (
        update(Survey)
        .where(
            Survey.customer_id == any_(bindparam("customer_ids", list(customer_ids), type_=ARRAY(String))),
            Survey.kind == kind.value,
            Survey.sent_at.is_(None),
            Survey.cancelled_at.is_(None),
        )
        .values(cancelled_at=now, cancel_reason=reason)
        .returning(Survey)
    )
    return list((await session.scalars(stmt)).all())


# --- the timer --------------------------------------------------------------------------------


async def lock_due(session: AsyncSession, *, now: datetime, limit: int) -> list[Survey]:
    """Scheduled surveys due by `now`, earliest first, locked; rows another transaction holds are
    skipped (replicas share the work, and none is sent twice)."""
    stmt = (
        select(Survey)
        .where(Survey.sent_at.is_(None), Survey.cancelled_at.is_(None), Survey.due_at <= now)
        .order_by(Survey.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def lock_unreminded(session: AsyncSession, *, sent_before: datetime, now: datetime, limit: int) -> list[Survey]:
    """Open surveys sent before `sent_before` that had no reminder, earliest first, locked
    (skipping rows another transaction holds)."""
    stmt = (
        select(Survey)
        .where(
            Survey.reminded_at.is_(None),
            Survey.answered_at.is_(None),
            Survey.cancelled_at.is_(None),
            Survey.sent_at <= sent_before,
            Survey.expires_at > now,
        )
        .order_by(Survey.sent_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def postpone(session: AsyncSession, survey_id: uuid.UUID, *, until: datetime) -> None:
    """Try a survey that failed to go out again later."""
    await session.execute(update(Survey).where(Survey.id == survey_id).values(due_at=until))


async def next_due(session: AsyncSession, *, reminder_delay: timedelta) -> datetime | None:
    """The earliest instant the timer has something to send or remind (read through the indexes)."""
    send = await session.scalar(
        select(func.min(Survey.due_at)).where(Survey.sent_at.is_(None), Survey.cancelled_at.is_(None))
    )
    remind = await session.scalar(
        select(func.min(Survey.sent_at)).where(
            Survey.reminded_at.is_(None), Survey.answered_at.is_(None), Survey.cancelled_at.is_(None)
        )
    )
    candidates = [send] if send is not None else []
    if remind is not None:
        candidates.append(remind + reminder_delay)
    return min(candidates, default=None)


# --- customers --------------------------------------------------------------------------------


async def customer(session: AsyncSession, customer_id: str) -> Customer | None:
    """What feedback knows about a customer."""
    return await session.get(Customer, customer_id)


# One statement for a run of announcements (one per customer: a customer announced twice in a
# run is applied in rounds by the caller), with `record_segment`'s rule.
_RECORD_SEGMENTS = text(
    """
INSERT INTO customers AS c (customer_id, segment, changed_at, customer_since, first_seen_at, preferred_channel)
SELECT * FROM unnest(
    CAST(:customer_ids AS varchar[]), CAST(:segments AS varchar[]), CAST(:changed_ats AS timestamptz[]),
    CAST(:customer_sinces AS date[]), CAST(:first_seen_ats AS timestamptz[]), CAST(:preferred_channels AS varchar[])
)
ON CONFLICT (customer_id) DO UPDATE SET
    segment = EXCLUDED.segment,
    changed_at = EXCLUDED.changed_at,
    customer_since = coalesce(EXCLUDED.customer_since, c.customer_since),
    first_seen_at = coalesce(EXCLUDED.first_seen_at, c.first_seen_at),
    preferred_channel = coalesce(EXCLUDED.preferred_channel, c.preferred_channel)
WHERE c.changed_at < EXCLUDED.changed_at
RETURNING c.customer_id
"""
)


async def record_segments(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """`record_segment` for a run of customers, each once, in one statement; the customers whose
    announcement was newer (and so applies)."""
    if not rows:
        return set()
    columns = ("customer_id", "segment", "changed_at", "customer_since", "first_seen_at", "preferred_channel")
    params = {f"{name}s": [row.get(name) for row in rows] for name in columns}
    return set((await session.scalars(_RECORD_SEGMENTS, params)).all())


# --- delivery, answers, reads -----------------------------------------------------------------

_TO_DELIVER = and_(
    Survey.sent_at.is_not(None),
    or_(Survey.delivered_at.is_(None), and_(Survey.reminded_at.is_not(None), Survey.reminder_delivered_at.is_(None))),
)


async def undelivered(session: AsyncSession, *, limit: int, after: uuid.UUID | None, now: datetime) -> list[Survey]:
    """Open surveys whose link (or reminder) was not reported delivered, in creation order (ids
    are time-ordered, so the id is the cursor)."""
    stmt = select(Survey).where(
        _TO_DELIVER, Survey.answered_at.is_(None), Survey.cancelled_at.is_(None), Survey.expires_at > now
    )
    if after is not None:
        stmt = stmt.where(Survey.id > after)
    return list((await session.scalars(stmt.order_by(Survey.id).limit(limit))).all())


async def mark_delivered(session: AsyncSession, *, survey_id: uuid.UUID, now: datetime) -> Survey | None:
    """Set `delivered_at` once (and the reminder's, once there is one); None for a survey that is
    unknown or has not gone out."""
    stmt = (
        update(Survey)
        .where(Survey.id == survey_id, Survey.sent_at.is_not(None))
        .values(
            delivered_at=func.coalesce(Survey.delivered_at, now),
            reminder_delivered_at=case(
                (Survey.reminded_at.is_not(None), func.coalesce(Survey.reminder_delivered_at, now)),
                else_=Survey.reminder_delivered_at,
            ),
        )
        .returning(Survey)
    )
    return await session.scalar(stmt)


async def by_id(session: AsyncSession, survey_id: uuid.UUID) -> Survey | None:
    """One survey."""
    return await session.get(Survey, survey_id)


async def by_token_hash(session: AsyncSession, token_hash: str) -> Survey | None:
    """The survey behind a link, found by the digest of its token."""
    stmt = select(Survey).join(SurveyLink, SurveyLink.survey_id == Survey.id).where(SurveyLink.token_hash == token_hash)
    return await session.scalar(stmt)


async def add_link(session: AsyncSession, *, survey_id: uuid.UUID, token_hash: str, issued_at: datetime) -> None:
    """Remember a link handed out, by the digest of its token."""
    await session.execute(insert(SurveyLink).values(token_hash=token_hash, survey_id=survey_id, issued_at=issued_at))


async def latest_of_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Survey | None:
    """A ticket's survey of its latest resolution."""
    stmt = select(Survey).where(Survey.ticket_id == ticket_id).order_by(Survey.resolved_at.desc(), Survey.id.desc())
    return await session.scalar(stmt.limit(1))


def _with_status(status: SurveyStatus, now: datetime) -> ColumnElement[bool]:
    """The SQL of `domain.status_at`."""
    unanswered = and_(Survey.answered_at.is_(None), Survey.cancelled_at.is_(None))
    return {
        SurveyStatus.ANSWERED: Survey.answered_at.is_not(None),
        SurveyStatus.CANCELLED: and_(Survey.answered_at.is_(None), Survey.cancelled_at.is_not(None)),
        SurveyStatus.SCHEDULED: and_(unanswered, Survey.sent_at.is_(None)),
        SurveyStatus.EXPIRED: and_(unanswered, Survey.sent_at.is_not(None), Survey.expires_at <= now),
        SurveyStatus.OPEN: and_(unanswered, Survey.sent_at.is_not(None), Survey.expires_at > now),
    }[status]


async def search(
    session: AsyncSession,
    *,
    customer_id: str | None,
    kind: SurveyKind | None,
    status: SurveyStatus | None,
    now: datetime,
    limit: int,
    after: uuid.UUID | None,
    department_id: str | None = None,
) -> Sequence[Survey]:
    """Surveys matching every filter given, oldest first from the cursor (with a department:
    only surveys of tickets it holds, so no relationship survey)."""
    stmt = select(Survey)
    if department_id is not None:
        stmt = stmt.join(TicketDepartment, TicketDepartment.ticket_id == Survey.ticket_id).where(
            TicketDepartment.department_id == department_id
        )
    if customer_id is not None:
        stmt = stmt.where(Survey.customer_id == customer_id)
    if kind is not None:
        stmt = stmt.where(Survey.kind == kind.value)
    if status is not None:
        stmt = stmt.where(_with_status(status, now))
    if after is not None:
        stmt = stmt.where(Survey.id > after)
    return (await session.scalars(stmt.order_by(Survey.id).limit(limit))).all()


async def record_answer(
    session: AsyncSession,
    *,
    survey_id: uuid.UUID,
    answers: dict[str, Any],
    texts: bytes | None,
    csat: int | None,
    nps: int | None,
    answered_at: datetime,
) -> Survey | None:
    """Store the answer in one statement; None unless the survey is out, unanswered, not withdrawn
    and still open.

    The condition and the write are one UPDATE, so of two racing answers exactly one matches:
    the other waits on the row lock, then re-checks and finds it answered.
    """
    stmt = (
        update(Survey)
        .where(
            Survey.id == survey_id,
            Survey.sent_at.is_not(None),
            Survey.answered_at.is_(None),
            Survey.cancelled_at.is_(None),
            Survey.expires_at > answered_at,
        )
        .values(answers=answers, texts=texts, csat=csat, nps=nps, answered_at=answered_at)
        .returning(Survey)
    )
    return await session.scalar(stmt)


# --- customers' texts -------------------------------------------------------------------------


async def erase_texts(session: AsyncSession, customer_id: str, *, erased: bytes) -> int:
    """Overwrite every text of the customer's answers with the erased mark (sealed or not: the
    key is destroyed too, this also covers texts the sealing job has not reached); how many."""
    result = await session.execute(
        update(Survey)
        .where(Survey.customer_id == customer_id, Survey.texts.is_not(None), Survey.texts != erased)
        .values(texts=erased)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# Retention: answers whose texts are still kept, by answering time. Written as the index's
# predicate (constants, not parameters), so the planner can use `ix_surveys_kept_texts`.
_TEXTS_KEPT = text("surveys.texts IS NOT NULL AND surveys.texts <> '\\x02'::bytea")


def _texts_kept_before(cutoff: datetime, erased: bytes) -> list[ColumnElement[bool]]:
    if erased != b"\x02":
        raise ValueError("the index `ix_surveys_kept_texts` assumes the erased mark is 0x02")
    return [_TEXTS_KEPT, Survey.answered_at < cutoff]  # type: ignore[list-item]


async def texts_due(session: AsyncSession, cutoff: datetime, *, erased: bytes) -> tuple[int, datetime | None]:
    """How many answers given before `cutoff` still hold texts, and the oldest answer."""
    row = (
        await session.execute(
            select(func.count(), func.min(Survey.answered_at)).where(*_texts_kept_before(cutoff, erased))
        )
    ).one()
    return int(row[0]), row[1]


async def erase_old_texts(session: AsyncSession, cutoff: datetime, *, erased: bytes, limit: int) -> int:
    """Overwrite with `erased` the texts of at most `limit` answers given before `cutoff` (rows
    another transaction holds are left for the next batch); how many."""
    chosen = (
        select(Survey.id)
        .where(*_texts_kept_before(cutoff, erased))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(Survey).where(Survey.id.in_(chosen)).values(texts=erased).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def lock_clear_texts(session: AsyncSession, *, limit: int) -> list[tuple[uuid.UUID, str, bytes]]:
    """Up to `limit` answers whose texts are still stored unsealed, locked (SKIP LOCKED, so
    replicas share the work): id, customer and the stored value."""
    rows = await session.execute(
        select(Survey.id, Survey.customer_id, Survey.texts)
        .where(func.get_byte(Survey.texts, 0) == 0)
        .order_by(Survey.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        (survey_id, str(customer_id), bytes(texts)) for survey_id, customer_id, texts in rows.all() if texts is not None
    ]


async def set_texts(session: AsyncSession, survey_id: uuid.UUID, texts: bytes) -> None:
    """Store an answer's texts in their new (sealed) form."""
    await session.execute(
        update(Survey).where(Survey.id == survey_id).values(texts=texts).execution_options(synchronize_session=False)
    )


# --- departments ------------------------------------------------------------------------------


# One statement for a run of placements (one per ticket: the caller keeps each ticket's latest).
_PLACE_MANY = text(
    """
INSERT INTO ticket_departments AS d (ticket_id, department_id, placed_at)
SELECT * FROM unnest(
    CAST(:ticket_ids AS uuid[]), CAST(:department_ids AS varchar[]), CAST(:placed_ats AS timestamptz[])
)
ON CONFLICT (ticket_id) DO UPDATE SET department_id = EXCLUDED.department_id, placed_at = EXCLUDED.placed_at
WHERE d.placed_at <= EXCLUDED.placed_at
"""
)


async def place_many(session: AsyncSession, placements: Sequence[tuple[uuid.UUID, str, datetime]]) -> None:
    """`place` for a run of tickets, each once, in one statement."""
    if not placements:
        return
    await session.execute(
        _PLACE_MANY,
        {
            "ticket_ids": [t for t, _, _ in placements],
            "department_ids": [d for _, d, _ in placements],
            "placed_ats": [a for _, _, a in placements],
        },
    )


async def department_of(session: AsyncSession, ticket_id: uuid.UUID) -> str | None:
    """The department holding a ticket, if routing's placement of it has arrived."""
    department: str | None = await session.scalar(
        select(TicketDepartment.department_id).where(TicketDepartment.ticket_id == ticket_id)
    )
    return department
