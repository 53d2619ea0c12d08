"""HTTP: admins write canned replies; staff list and read them, and fill one in for a ticket
they may read (the workspace inserts the text in its reply box)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from ticketloop_intake.reply_templates import domain, service
from ticketloop_intake.reply_templates.models import ReplyTemplate
from ticketloop_intake.reply_templates.schemas import (
    RenderedReply,
    ReplyTemplateIn,
    ReplyTemplateOut,
    ReplyTemplatePage,
)
from ticketloop_intake.unit import IntakeUowDep, SettingsDep
from ticketloop_shared.api import IfMatchRequired, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import MAX_OFFSET
from ticketloop_shared.vocabulary import Category

router = APIRouter(tags=["reply templates"])

_PRECONDITIONS: dict[int | str, dict[str, object]] = {
    412: {"description": "The template changed since the `If-Match` version was read (`template_changed`)"},
    428: {"description": "`If-Match` is missing (`if_match_required`)"},
}
_ETAG = {"ETag": {"description": "The template's version, to send back as `If-Match`", "schema": {"type": "string"}}}
_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown template (`template_not_found`)"}}
_INVALID: dict[int | str, dict[str, object]] = {
    409: {"description": "Another template has this name (`template_name_taken`)"},
    422: {"description": "An unknown placeholder or unmatched braces (`unknown_placeholder`), or a validation error"},
}


def render(template: ReplyTemplate) -> ReplyTemplateOut:
    """A template as admins and staff read it."""
    return ReplyTemplateOut(
        id=template.id,
        name=template.name,
        body=template.body,
        category=Category(template.category) if template.category else None,
        active=template.active,
        placeholders=domain.placeholders(template.body),
        version=template.version,
        created_at=template.created_at,
        created_by=template.created_by,
        updated_at=template.updated_at,
        updated_by=template.updated_by,
    )


@router.post(
    "/v1/reply-templates",
    status_code=201,
    response_model=ReplyTemplateOut,
    responses={201: {"headers": _ETAG}, **_INVALID},
)
async def create_template(
    body: ReplyTemplateIn, uow: IntakeUowDep, admin: CurrentAdmin, response: Response
) -> ReplyTemplateOut:
    """Write a new reply template (audited)."""
    template = await service.create(uow.session, new=body, by=admin, now=uow.now())
    response.headers["ETag"] = domain.etag(template.version)
    return render(template)


@router.get("/v1/reply-templates", response_model=ReplyTemplatePage)
async def list_templates(
    session: SessionDep,
    _: CurrentStaff,
    category: Annotated[
        Category | None, Query(description="Only templates offered for this category (its own and general ones)")
    ] = None,
    active: Annotated[bool | None, Query(description="Only active (true) or only inactive (false) templates")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ReplyTemplatePage:
    """Reply templates by name, filtered and paginated."""
    rows, total = await service.page(
        session, category=category.value if category else None, active=active, limit=limit, offset=offset
    )
    return ReplyTemplatePage(items=[render(t) for t in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/v1/reply-templates/{template_id}",
    response_model=ReplyTemplateOut,
    responses={200: {"headers": _ETAG}, **_NOT_FOUND},
)
async def get_template(
    template_id: uuid.UUID, session: SessionDep, _: CurrentStaff, response: Response
) -> ReplyTemplateOut:
    """One reply template, with its version in `ETag`."""
    template = await service.read(session, template_id)
    response.headers["ETag"] = domain.etag(template.version)
    return render(template)


@router.put(
    "/v1/reply-templates/{template_id}",
    response_model=ReplyTemplateOut,
    responses={
        200: {"headers": _ETAG},
        **_NOT_FOUND,
        **_INVALID,
        **_PRECONDITIONS,
    },
)
async def replace_template(
    template_id: uuid.UUID,
    body: ReplyTemplateIn,
    uow: IntakeUowDep,
    admin: CurrentAdmin,
    if_match: IfMatchRequired,
    response: Response,
) -> ReplyTemplateOut:
    """Replace a reply template whole, over the version the caller read (`If-Match`); audited."""
    template = await service.replace(
        uow.session, template_id=template_id, new=body, if_match=if_match, by=admin, now=uow.now()
    )
    response.headers["ETag"] = domain.etag(template.version)
    return render(template)


@router.delete(
    "/v1/reply-templates/{template_id}",
    status_code=204,
    responses={
        **_NOT_FOUND,
        **_PRECONDITIONS,
    },
)
async def delete_template(
    template_id: uuid.UUID, uow: IntakeUowDep, admin: CurrentAdmin, if_match: IfMatchRequired
) -> Response:
    """Delete a reply template, over the version read (`If-Match`); audited."""
    await service.remove(uow.session, template_id=template_id, if_match=if_match, by=admin)
    return Response(status_code=204)


@router.post(
    "/v1/tickets/{ticket_id}/reply-templates/{template_id}/render",
    response_model=RenderedReply,
    responses={
        403: {"description": "Not your department's ticket (`not_your_department`)"},
        404: {"description": "Unknown ticket (`ticket_not_found`) or template (`template_not_found`)"},
        409: {"description": "The template is inactive (`template_inactive`)"},
    },
)
async def render_template(
    ticket_id: uuid.UUID, template_id: uuid.UUID, session: SessionDep, settings: SettingsDep, staff: CurrentStaff
) -> RenderedReply:
    """A reply template filled in for one ticket (the caller's name as `{agent_name}`, deadlines
    in the configured zone), for staff who may read the ticket. Nothing is sent: the text is
    for the reply box."""
    text = await service.render(session, settings, ticket_id=ticket_id, template_id=template_id, staff=staff)
    return RenderedReply(text=text)
