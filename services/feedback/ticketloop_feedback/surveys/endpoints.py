"""HTTP: customers open and answer their survey link without logging in; staff read surveys (never
their links); a delivery system (notifier token) fetches the links to send. Admins edit the
templates surveys ask in `templates.endpoints`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ticketloop_feedback.surveys import service
from ticketloop_feedback.surveys.domain import AnswerValue, SurveyNotFound, SurveyStatus, survey_link
from ticketloop_feedback.surveys.models import Survey
from ticketloop_feedback.surveys.schemas import (
    AnswerOut,
    Delivered,
    Delivery,
    DeliveryPage,
    PublicQuestion,
    PublicSurvey,
    SurveyAnswer,
    SurveyOut,
    SurveyPage,
)
from ticketloop_feedback.templates.domain import (
    NPS,
    NPS_REASON,
    NPS_REASON_HIGH_FROM,
    Question,
    Template,
    nps_reason_prompt,
)
from ticketloop_feedback.unit import FeedbackUowDep, SettingsDep
from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentNotifier, CurrentStaff, check_department, department_scope
from ticketloop_shared.events import SurveyKind
from ticketloop_shared.ratelimit import presented_key, rate_limits
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1", tags=["surveys"])


Token = Annotated[
    str,
    Path(description="The secret token from the survey link; it is the only credential."),
    STORABLE,
]

# The URL carries the credential, so no cache along the way may keep the response.
NO_STORE = {"Cache-Control": "no-store"}

_public_errors: dict[int | str, dict[str, object]] = {
    404: {"description": "No survey behind this link"},
    429: {"description": "Too many links that were not surveys from this address (`rate_limited`)"},
    409: {"description": "Already answered"},
    410: {"description": "Expired before it was answered (`survey_expired`), or withdrawn (`survey_cancelled`)"},
    413: {"description": "Body too large"},
    422: {
        "description": "`invalid_answer`: the answer does not fit the survey's template; `details` lists each "
        "question (`loc`) and reason (`type`: `unknown_question`, `missing`, `int_type`, `bool_type`, "
        "`string_type`, `greater_than_equal`, `less_than_equal`, `string_too_long`, `nul_byte`, "
        "`invalid_unicode`)"
    },
}
_staff_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    403: {
        "description": "`not_your_department`: another department's ticket; `ticket_not_routed`: feedback "
        "has not heard which department holds it (admins only until then)"
    },
    404: {"description": "The ticket has no survey (yet)"},
    422: {"description": "Validation error"},
}


@contextmanager
def _guesses_counted(request: Request, token: str) -> Iterator[None]:
    """A token that is no survey counts, for its address and itself, as a refused credential:
    past the limit the answer is 429, not 404 (a real link always opens)."""
    try:
        yield
    except SurveyNotFound:
        limits = rate_limits(request)
        if limits is not None:
            limits.failed_credentials(request, presented_key("link", token))
        raise


# --- response building (one layer: here) ------------------------------------------------------


def public_question(q: Question) -> PublicQuestion:
    """A question as the customer's page renders it."""
    return PublicQuestion.model_validate(
        {**q.as_json(), "high_from": NPS_REASON_HIGH_FROM if q.id == NPS_REASON else None}
    )


def answer_out(
    survey: Survey, template: Template | None, answers: Mapping[uuid.UUID, Mapping[str, AnswerValue]]
) -> AnswerOut | None:
    """The survey's answer (`answers`: as opened, by survey), if it has one, with the NPS reason
    prompt that applied."""
    opened = answers.get(survey.id)
    if survey.answered_at is None or opened is None:
        return None
    reason = template.question(NPS_REASON) if template is not None else None
    nps = opened.get(NPS)
    return AnswerOut(
        answers=dict(opened),
        answered_at=survey.answered_at,
        nps_reason_prompt=(
            nps_reason_prompt(reason, nps if isinstance(nps, int) else None)
            if reason is not None and NPS_REASON in opened
            else None
        ),
    )


def survey_out(
    survey: Survey,
    *,
    now: datetime,
    templates: Mapping[tuple[str, int], Template],
    answers: Mapping[uuid.UUID, Mapping[str, AnswerValue]],
) -> SurveyOut:
    """A survey as staff see it (never its link)."""
    pinned = templates.get((survey.template_id, survey.template_version or 0))
    return SurveyOut(
        id=survey.id,
        kind=SurveyKind(survey.kind),
        template_id=survey.template_id,
        template_version=survey.template_version,
        ticket_id=survey.ticket_id,
        ticket_number=survey.ticket_number,
        customer_id=survey.customer_id,
        status=service.status_of(survey, now),
        channel=survey.channel,
        created_at=survey.created_at,
        due_at=survey.due_at,
        sent_at=survey.sent_at,
        reminded_at=survey.reminded_at,
        delivered_at=survey.delivered_at,
        cancelled_at=survey.cancelled_at,
        cancel_reason=survey.cancel_reason,
        expires_at=survey.expires_at,
        answer=answer_out(survey, pinned, answers),
    )


# --- the link (no login) ----------------------------------------------------------------------


@router.get(
    "/surveys/{token}",
    response_model=PublicSurvey,
    responses=_public_errors,
)
async def read_survey(
    token: Token, session: SessionDep, runtime: RuntimeDep, request: Request, response: Response
) -> PublicSurvey:
    """The customer opens the link: whether it can still be answered, and the questions of the
    template it was sent with."""
    response.headers.update(NO_STORE)
    with _guesses_counted(request, token):
        survey = await service.sent_survey(session, token)
    template = await service.pinned_template(session, survey)
    return PublicSurvey(
        status=service.status_of(survey, runtime.clock.now()),
        kind=SurveyKind(survey.kind),
        ticket_number=survey.ticket_number,
        expires_at=survey.expires_at,
        template_id=template.id,
        template_version=template.version,
        questions=[public_question(q) for q in template.questions],
    )


@router.post(
    "/surveys/{token}",
    status_code=201,
    response_model=AnswerOut,
    responses=_public_errors,
)
async def answer_survey(
    token: Token, body: SurveyAnswer, uow: FeedbackUowDep, request: Request, response: Response
) -> AnswerOut:
    """The customer answers, once; the scores are announced as `feedback.received` (and a low
    score as `feedback.low_score`)."""
    response.headers.update(NO_STORE)
    with _guesses_counted(request, token):
        survey, template = await service.answer(uow, token=token, reply=body.root)
    recorded = answer_out(survey, template, await service.opened_answers(uow.session, [survey], uow.settings))
    assert recorded is not None
    return recorded


# --- staff ------------------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}/survey", response_model=SurveyOut, responses=_staff_errors)
async def ticket_survey(
    ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, settings: SettingsDep, staff: CurrentStaff
) -> SurveyOut:
    """Staff follow up on a ticket: the survey of its latest resolution, its status (scheduled,
    open, answered, expired, cancelled), timing, delivery and answer (not its link). Its
    department's staff, or an admin (checked before whether a survey exists, so another
    department learns nothing of the ticket)."""
    check_department(staff, await service.department_of(session, ticket_id=ticket_id))
    survey = await service.ticket_survey(session, ticket_id=ticket_id)
    templates = await service.templates_of(session, [survey])
    answers = await service.opened_answers(session, [survey], settings)
    return survey_out(survey, now=runtime.clock.now(), templates=templates, answers=answers)


@router.get(
    "/surveys",
    response_model=SurveyPage,
    responses={
        401: _staff_errors[401],
        403: {"description": "`not_your_department`: another department asked for"},
        422: _staff_errors[422],
    },
)
async def list_surveys(
    session: SessionDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    staff: CurrentStaff,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=100), STORABLE] = None,
    kind: SurveyKind | None = None,
    status: SurveyStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[uuid.UUID | None, Query(description="`next_after` of the previous page")] = None,
    department_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only the surveys of this department's tickets")
    ] = None,
) -> SurveyPage:
    """Surveys of every kind, filtered by customer, kind, status and department, oldest first
    (never links). An agent or supervisor sees the surveys of its own department's tickets only
    (asking for another department is a 403); relationship surveys, about a customer rather than
    a ticket, are an admin's."""
    now = runtime.clock.now()
    surveys = await service.search(
        session,
        customer_id=customer_id,
        kind=kind,
        status=status,
        now=now,
        limit=limit,
        after=after,
        department_id=department_scope(staff, department_id),
    )
    templates = await service.templates_of(session, surveys)
    answers = await service.opened_answers(session, surveys, settings)
    return SurveyPage(
        items=[survey_out(s, now=now, templates=templates, answers=answers) for s in surveys],
        next_after=surveys[-1].id if len(surveys) == limit else None,
    )


# --- delivery ---------------------------------------------------------------------------------


@router.get("/survey-deliveries", response_model=DeliveryPage)
async def survey_deliveries(
    uow: FeedbackUowDep,
    notifier: CurrentNotifier,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[uuid.UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> DeliveryPage:
    """For the delivery system: sent surveys whose link (or reminder) has not been reported sent,
    oldest first, with the link to send on the customer's preferred channel (`channel`). A survey
    is listed only once due; its one reminder lists it again. Each link is minted when handed out
    (feedback keeps only its digest, so it cannot hand the same one out twice): asking again gives
    a new link, and every link handed out works until the survey closes. Each is recorded in the
    audit log."""
    response.headers.update(NO_STORE)
    issued, next_after = await service.pending_deliveries(uow, by=notifier, limit=limit, after=after)
    return DeliveryPage(items=[delivery_out(i, uow.settings.public_base_url) for i in issued], next_after=next_after)


@router.get(
    "/survey-deliveries/{survey_id}",
    response_model=Delivery,
    responses={
        404: {"description": "No such survey, or not sent yet (`survey_not_found`)"},
        409: {"description": "Already answered (`survey_already_answered`)"},
        410: {"description": "Expired (`survey_expired`) or withdrawn (`survey_cancelled`)"},
    },
)
async def survey_delivery(
    survey_id: uuid.UUID, uow: FeedbackUowDep, notifier: CurrentNotifier, response: Response
) -> Delivery:
    """For a delivery system that learnt from `feedback.survey_sent` which survey fell due (intake's
    channel webhooks): a link to that one survey, minted now, while it can still be answered;
    audited. Earlier links of the survey keep working."""
    response.headers.update(NO_STORE)
    issued = await service.delivery_of(uow, by=notifier, survey_id=survey_id)
    return delivery_out(issued, uow.settings.public_base_url)


def delivery_out(issued: service.IssuedLink, public_base_url: str) -> Delivery:
    """A sent survey as the delivery system gets it: with the link just minted for it."""
    s = issued.survey
    assert s.sent_at is not None
    return Delivery(
        survey_id=s.id,
        kind=SurveyKind(s.kind),
        ticket_id=s.ticket_id,
        ticket_number=s.ticket_number,
        customer_id=s.customer_id,
        channel=s.channel,
        reminder=s.delivered_at is not None and s.reminded_at is not None,
        link=survey_link(public_base_url, issued.token),
        created_at=s.created_at,
        sent_at=s.sent_at,
        expires_at=s.expires_at,
    )


@router.post(
    "/survey-deliveries/{survey_id}/delivered",
    response_model=Delivered,
    responses={404: {"description": "No such survey (or not sent yet)"}},
)
async def survey_delivered(survey_id: uuid.UUID, uow: FeedbackUowDep, _: CurrentNotifier) -> Delivered:
    """The link (or its reminder) reached the customer: it leaves the delivery list (a repeat is
    harmless)."""
    survey = await service.mark_delivered(uow, survey_id=survey_id)
    assert survey.delivered_at is not None
    return Delivered(
        survey_id=survey.id, delivered_at=survey.delivered_at, reminder_delivered_at=survey.reminder_delivered_at
    )
