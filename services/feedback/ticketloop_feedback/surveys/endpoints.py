"""HTTP: customers open and answer their survey link without logging in; staff read a ticket's survey."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_feedback.surveys import service
from ticketloop_feedback.surveys.schemas import AnswerOut, PublicSurvey, SurveyAnswer, SurveyOut
from ticketloop_shared.api import RuntimeDep, SessionDep, get_uow
from ticketloop_shared.auth import CurrentStaff
from ticketloop_shared.unit_of_work import UnitOfWork
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1", tags=["surveys"])


def get_settings(request: Request) -> FeedbackSettings:
    """Dependency: feedback's settings, as the app was built with them."""
    settings: FeedbackSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[FeedbackSettings, Depends(get_settings)]
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


@router.get("/surveys/{token}", response_model=PublicSurvey, responses=_public_errors)
async def read_survey(token: Token, session: SessionDep, runtime: RuntimeDep, response: Response) -> PublicSurvey:
    """The customer opens the link: whether it can still be answered, and the questions."""
    response.headers.update(NO_STORE)
    return await service.public_view(session, token=token, clock=runtime.clock)


@router.post("/surveys/{token}", status_code=201, response_model=AnswerOut, responses=_public_errors)
async def answer_survey(token: Token, body: SurveyAnswer, uow: FeedbackUow, response: Response) -> AnswerOut:
    """The customer answers, once; the scores are announced as `feedback.received`."""
    response.headers.update(NO_STORE)
    return await service.answer(uow, token=token, reply=body)


@router.get("/tickets/{ticket_id}/survey", response_model=SurveyOut, responses=_staff_errors)
async def ticket_survey(
    ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, settings: SettingsDep, _: CurrentStaff
) -> SurveyOut:
    """Staff follow up on a ticket: its survey link, status and answer."""
    return await service.staff_view(
        session, ticket_id=ticket_id, clock=runtime.clock, public_base_url=settings.public_base_url
    )
