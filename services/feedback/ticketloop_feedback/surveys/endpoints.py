"""HTTP: customers open and answer their survey link without logging in; staff read a ticket's
survey (never its link); a delivery system (notifier token) fetches the links to send."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.surveys.domain import SurveyNotFound
from ticketloop_feedback.surveys.schemas import (
    AnswerOut,
    Delivered,
    DeliveryPage,
    PublicSurvey,
    SurveyAnswer,
    SurveyOut,
)
from ticketloop_shared.api import RuntimeDep, SessionDep, get_uow
from ticketloop_shared.auth import CurrentNotifier, CurrentStaff
from ticketloop_shared.ratelimit import rate_limits
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1", tags=["surveys"])


FeedbackUow = Annotated[UnitOfWork[FeedbackSettings], Depends(get_uow, scope="function")]
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
    410: {"description": "Expired before it was answered"},
    413: {"description": "Body too large"},
    422: {"description": "Validation error"},
}
_staff_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    404: {"description": "The ticket has no survey (yet)"},
    422: {"description": "Validation error"},
}


def guessing_limit(request: Request) -> None:
    """Dependency: an address that keeps trying tokens that are no survey waits (429)."""
    limits = rate_limits(request)
    if limits is not None:
        limits.refuse_blocked_address(request)


@contextmanager
def _guesses_counted(request: Request) -> Iterator[None]:
    """A token that is no survey counts, for its address, as a refused credential."""
    try:
        yield
    except SurveyNotFound:
        limits = rate_limits(request)
        if limits is not None:
            limits.failed_credentials(request)
        raise


@router.get(
    "/surveys/{token}",
    response_model=PublicSurvey,
    responses=_public_errors,
    dependencies=[Depends(guessing_limit)],
)
async def read_survey(
    token: Token, session: SessionDep, runtime: RuntimeDep, request: Request, response: Response
) -> PublicSurvey:
    """The customer opens the link: whether it can still be answered, and the questions."""
    response.headers.update(NO_STORE)
    with _guesses_counted(request):
        return await service.public_view(session, token=token, clock=runtime.clock)


@router.post(
    "/surveys/{token}",
    status_code=201,
    response_model=AnswerOut,
    responses=_public_errors,
    dependencies=[Depends(guessing_limit)],
)
async def answer_survey(
    token: Token, body: SurveyAnswer, uow: FeedbackUow, request: Request, response: Response
) -> AnswerOut:
    """The customer answers, once; the scores are announced as `feedback.received`."""
    response.headers.update(NO_STORE)
    with _guesses_counted(request):
        return await service.answer(uow, token=token, reply=body)


@router.get("/tickets/{ticket_id}/survey", response_model=SurveyOut, responses=_staff_errors)
async def ticket_survey(ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _: CurrentStaff) -> SurveyOut:
    """Staff follow up on a ticket: its survey's status, delivery and answer (not its link)."""
    return await service.staff_view(session, ticket_id=ticket_id, clock=runtime.clock)


@router.get("/survey-deliveries", response_model=DeliveryPage)
async def survey_deliveries(
    uow: FeedbackUow,
    notifier: CurrentNotifier,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[uuid.UUID | None, Query(description="`next_after` of the previous page")] = None,
) -> DeliveryPage:
    """For the delivery system: open surveys whose link has not been reported sent, oldest
    first, with the link to send on the customer's preferred channel. Each link handed out is
    recorded in the audit log."""
    response.headers.update(NO_STORE)
    items, next_after = await service.pending_deliveries(uow, by=notifier, limit=limit, after=after)
    return DeliveryPage(items=items, next_after=next_after)


@router.post(
    "/survey-deliveries/{survey_id}/delivered",
    response_model=Delivered,
    responses={404: {"description": "No such survey"}},
)
async def survey_delivered(survey_id: uuid.UUID, uow: FeedbackUow, _: CurrentNotifier) -> Delivered:
    """The link reached the customer: it leaves the delivery list (a repeat is harmless)."""
    return Delivered(survey_id=survey_id, delivered_at=await service.mark_delivered(uow, survey_id=survey_id))
