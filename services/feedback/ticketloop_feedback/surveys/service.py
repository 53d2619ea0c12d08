"""The rules of surveys. Every change writes its event to the outbox in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.db import audit
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import repository
from ticketloop_feedback.surveys.domain import (
    SurveyAlreadyAnswered,
    SurveyExpired,
    SurveyNotFound,
    SurveyStatus,
    is_token_shaped,
    new_token,
    status_at,
    survey_link,
)
from ticketloop_feedback.surveys.models import Survey
from ticketloop_feedback.surveys.schemas import QUESTIONS, AnswerOut, Delivery, PublicSurvey, SurveyAnswer, SurveyOut
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.clock import Clock
from ticketloop_shared.events import FeedbackReceivedData, SurveyKind, SurveySentV2Data, TicketResolvedData
from ticketloop_shared.unit_of_work import UnitOfWork

FeedbackUnit = UnitOfWork[FeedbackSettings]


async def open_survey(uow: FeedbackUnit, *, ticket: TicketResolvedData) -> Survey | None:
    """Survey the customer of a resolved ticket; a ticket gets one survey however often it resolves.

    Returns None when the ticket already had one: nothing is written and nothing is announced.
    """
    now = uow.now()
    survey = await repository.create_unless_exists(
        uow.session,
        ticket_id=ticket.ticket_id,
        ticket_number=ticket.number,
        customer_id=ticket.customer_id,
        token=new_token(),
        created_at=now,
        expires_at=now + timedelta(days=uow.settings.survey_ttl_days),
    )
    if survey is None:
        return None
    uow.emit(
        SurveySentV2Data(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            expires_at=survey.expires_at,
            kind=SurveyKind.TICKET,
            channel=ticket.customer_preferred_channel,
            sent_at=now,
        )
    )
    return survey


async def _by_token(session: AsyncSession, token: str) -> Survey:
    survey = await repository.by_token(session, token) if is_token_shaped(token) else None
    if survey is None:
        raise SurveyNotFound("no survey behind this link")
    return survey


async def public_view(session: AsyncSession, *, token: str, clock: Clock) -> PublicSurvey:
    """What the customer sees when opening the link."""
    survey = await _by_token(session, token)
    return PublicSurvey(
        status=status_at(answered_at=survey.answered_at, expires_at=survey.expires_at, now=clock.now()),
        ticket_number=survey.ticket_number,
        expires_at=survey.expires_at,
        questions=list(QUESTIONS),
    )


async def answer(uow: FeedbackUnit, *, token: str, reply: SurveyAnswer) -> AnswerOut:
    """Record the customer's one answer and announce the scores (never the comment's text)."""
    session, now = uow.session, uow.now()
    survey = None
    if is_token_shaped(token):
        survey = await repository.record_answer(
            session, token=token, csat=reply.csat, nps=reply.nps, comment=reply.comment, answered_at=now
        )
    if survey is None:
        await _refuse(session, token, now)
    uow.emit(
        FeedbackReceivedData(
            survey_id=survey.id,
            ticket_id=survey.ticket_id,
            customer_id=survey.customer_id,
            csat=reply.csat,
            nps=reply.nps,
            has_comment=reply.comment is not None,
            answered_at=now,
        )
    )
    return AnswerOut(csat=reply.csat, nps=reply.nps, comment=reply.comment, answered_at=now)


async def _refuse(session: AsyncSession, token: str, now: datetime) -> NoReturn:
    survey = await _by_token(session, token)
    status = status_at(answered_at=survey.answered_at, expires_at=survey.expires_at, now=now)
    if status is SurveyStatus.EXPIRED:
        raise SurveyExpired(
            "this survey closed before it was answered", details={"expires_at": survey.expires_at.isoformat()}
        )
    if status is SurveyStatus.ANSWERED:
        raise SurveyAlreadyAnswered("this survey has already been answered")
    # Unreachable: the UPDATE only misses an open survey if another answer committed first.
    raise RuntimeError(f"survey {survey.id} is open but refused an answer")


async def staff_view(session: AsyncSession, *, ticket_id: uuid.UUID, clock: Clock) -> SurveyOut:
    """A ticket's survey status and answer, for the agents following up (never its link: the
    token in it is the customer's credential)."""
    survey = await repository.by_ticket(session, ticket_id)
    if survey is None:
        raise SurveyNotFound(f"ticket {ticket_id} has no survey (yet)")
    return SurveyOut(
        id=survey.id,
        ticket_id=survey.ticket_id,
        ticket_number=survey.ticket_number,
        customer_id=survey.customer_id,
        status=status_at(answered_at=survey.answered_at, expires_at=survey.expires_at, now=clock.now()),
        created_at=survey.created_at,
        delivered_at=survey.delivered_at,
        expires_at=survey.expires_at,
        answer=answer_of(survey),
    )


async def pending_deliveries(
    uow: FeedbackUnit, *, by: Principal, limit: int, after: uuid.UUID | None
) -> tuple[list[Delivery], uuid.UUID | None]:
    """Surveys still to deliver, oldest first, with their links; each link handed out is audited
    (never the token itself)."""
    surveys = await repository.undelivered(uow.session, limit=limit, after=after, now=uow.now())
    for survey in surveys:
        await audit_log.record(
            uow.session,
            audit,
            actor=by,
            action="survey.link_issued",
            subject=f"survey:{survey.id}",
            details={"ticket_id": str(survey.ticket_id)},
        )
    deliveries = [
        Delivery(
            survey_id=s.id,
            ticket_id=s.ticket_id,
            ticket_number=s.ticket_number,
            customer_id=s.customer_id,
            link=survey_link(uow.settings.public_base_url, s.token),
            created_at=s.created_at,
            expires_at=s.expires_at,
        )
        for s in surveys
    ]
    return deliveries, (surveys[-1].id if len(surveys) == limit else None)


async def mark_delivered(uow: FeedbackUnit, *, survey_id: uuid.UUID) -> datetime:
    """The link reached the customer; a repeat keeps the first time."""
    delivered_at = await repository.mark_delivered(uow.session, survey_id=survey_id, now=uow.now())
    if delivered_at is None:
        raise SurveyNotFound(f"no survey {survey_id}")
    return delivered_at


def answer_of(survey: Survey) -> AnswerOut | None:
    """The survey's answer, if it has one."""
    if survey.answered_at is None or survey.csat is None or survey.nps is None:
        return None
    return AnswerOut(csat=survey.csat, nps=survey.nps, comment=survey.comment, answered_at=survey.answered_at)
