"""HTTP: staff read the survey templates, admins replace one (a new version; surveys already out
keep theirs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ticketloop_feedback.templates import service
from ticketloop_feedback.templates.domain import TEMPLATE_FOR_KIND, Question, Template
from ticketloop_feedback.templates.models import SurveyTemplateRow
from ticketloop_feedback.templates.schemas import QuestionBody, TemplateIn, TemplateList, TemplateOut
from ticketloop_feedback.unit import FeedbackUowDep
from ticketloop_shared.api import IfMatchRequired, SessionDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff

# Tagged with the surveys they shape, as before templates were their own feature (same OpenAPI).
router = APIRouter(prefix="/v1", tags=["surveys"])

TemplateId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")]

_unauthenticated: dict[str, object] = {"description": "Missing or invalid credentials"}
_template_write_errors: dict[int | str, dict[str, object]] = {
    403: {"description": "Only admins change templates"},
    404: {"description": "`template_not_found`"},
    412: {"description": "Changed since the `If-Match` version (`template_changed`)"},
    422: {"description": "`invalid_template` with every field and reason, or `invalid_if_match`"},
    428: {"description": "`If-Match` is missing (`if_match_required`)"},
}


def question_body(q: Question) -> QuestionBody:
    """A question as the admin API shows it."""
    return QuestionBody.model_validate(q.as_json())


def template_out(row: SurveyTemplateRow, template: Template) -> TemplateOut:
    """A template's read-back."""
    return TemplateOut(
        id=row.id,
        name=template.name,
        version=template.version,
        used_by=[kind for kind, template_id in TEMPLATE_FOR_KIND.items() if template_id == row.id],
        questions=[question_body(q) for q in template.questions],
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.get("/survey-templates", response_model=TemplateList, responses={401: _unauthenticated})
async def list_templates(session: SessionDep, _: CurrentStaff) -> TemplateList:
    """Every survey template as it now stands, with the kinds of survey that ask it."""
    return TemplateList(items=[template_out(row, t) for row, t in await service.all_templates(session)])


@router.get(
    "/survey-templates/{template_id}",
    response_model=TemplateOut,
    responses={401: _unauthenticated, 404: {"description": "`template_not_found`"}},
)
async def get_template(
    template_id: TemplateId, session: SessionDep, _: CurrentStaff, response: Response
) -> TemplateOut:
    """One template, its version in `ETag`."""
    row, template = await service.template(session, template_id)
    response.headers["ETag"] = f'"{template.version}"'
    return template_out(row, template)


@router.put("/survey-templates/{template_id}", response_model=TemplateOut, responses=_template_write_errors)
async def put_template(
    template_id: TemplateId,
    body: TemplateIn,
    uow: FeedbackUowDep,
    admin: CurrentAdmin,
    if_match: IfMatchRequired,
    response: Response,
) -> TemplateOut:
    """Replace a template's questions (a new version): surveys sent from now on ask them, surveys
    already out keep the version they were sent with. Over the version read (`If-Match:
    "<version>"`): a change made since that version is refused with 412."""
    row, template = await service.put_template(
        uow,
        template_id,
        name=body.name,
        questions=[Question.from_json(q.model_dump(exclude_none=True)) for q in body.questions],
        by=admin,
        if_match=if_match_version(if_match),
    )
    response.headers["ETag"] = f'"{template.version}"'
    return template_out(row, template)
