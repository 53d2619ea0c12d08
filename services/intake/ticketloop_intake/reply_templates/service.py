"""The rules of canned replies: admins write templates (checked placeholders, versioned,
audited), staff list them and fill one in for a ticket they may read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.customers.service import ERASED
from ticketloop_intake.db import audit
from ticketloop_intake.reply_templates import domain, repository
from ticketloop_intake.reply_templates.models import ReplyTemplate
from ticketloop_intake.reply_templates.schemas import ReplyTemplateIn
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed
from ticketloop_shared.events import ClockKind
from ticketloop_shared.ids import new_id


async def read(session: AsyncSession, template_id: uuid.UUID) -> ReplyTemplate:
    """One template (404 `template_not_found`)."""
    template = await repository.get(session, template_id)
    if template is None:
        raise NotFound(f"no reply template with id {template_id}", code="template_not_found")
    return template


async def page(
    session: AsyncSession, *, category: str | None, active: bool | None, limit: int, offset: int
) -> tuple[Sequence[ReplyTemplate], int]:
    """A filtered page of templates by name, and the total."""
    return await repository.page(session, category=category, active=active, limit=limit, offset=offset)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a reply template named {name!r} exists", code="template_name_taken")


async def create(session: AsyncSession, *, new: ReplyTemplateIn, by: Principal, now: datetime) -> ReplyTemplate:
    """Write a new template (version 1) once its placeholders check out, and record who did."""
    domain.placeholders(new.body)
    template = ReplyTemplate(
        id=new_id(),
        name=new.name,
        body=new.body,
        category=new.category.value if new.category else None,
        active=new.active,
        version=1,
        created_at=now,
        created_by=by.sub,
        updated_at=now,
        updated_by=by.sub,
    )
    if not await repository.written(session, template):
        raise _name_taken(new.name)
    await audit_log.record(
        session, audit, actor=by, action="reply_template.created", subject=_subject(template), details={"version": 1}
    )
    return template


async def _guarded(session: AsyncSession, template_id: uuid.UUID, if_match: str) -> ReplyTemplate:
    """The template, locked, if the caller names its current version in `If-Match` (412 when it
    names another version; the route refuses a missing one first)."""
    template = await repository.get(session, template_id, for_update=True)
    if template is None:
        raise NotFound(f"no reply template with id {template_id}", code="template_not_found")
    if not domain.matches_version(if_match, template.version):
        raise PreconditionFailed(
            "the template changed since you read it; read it again and re-apply your change",
            code="template_changed",
            details={"current_etag": domain.etag(template.version)},
        )
    return template


async def replace(
    session: AsyncSession,
    *,
    template_id: uuid.UUID,
    new: ReplyTemplateIn,
    if_match: str,
    by: Principal,
    now: datetime,
) -> ReplyTemplate:
    """Replace a template whole, over the version the caller read; a real change bumps the
    version and is audited (with the names of the fields it changed, never their text)."""
    template = await _guarded(session, template_id, if_match)
    domain.placeholders(new.body)
    wanted: dict[str, object] = {
        "name": new.name,
        "body": new.body,
        "category": new.category.value if new.category else None,
        "active": new.active,
    }
    changed = sorted(name for name, value in wanted.items() if getattr(template, name) != value)
    if not changed:
        return template
    for name in changed:
        setattr(template, name, wanted[name])
    template.version += 1
    template.updated_at, template.updated_by = now, by.sub
    if not await repository.written(session, template):
        raise _name_taken(new.name)
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="reply_template.updated",
        subject=_subject(template),
        details={"version": template.version, "changed": changed},
    )
    return template


async def remove(session: AsyncSession, *, template_id: uuid.UUID, if_match: str, by: Principal) -> None:
    """Delete a template, over the version named in `If-Match`; audited."""
    template = await _guarded(session, template_id, if_match)
    await repository.remove(session, template.id)
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="reply_template.deleted",
        subject=_subject(template),
        details={"version": template.version, "name": template.name},
    )


async def render(
    session: AsyncSession,
    settings: IntakeSettings,
    *,
    ticket_id: uuid.UUID,
    template_id: uuid.UUID,
    staff: Principal,
) -> str:
    """The template filled in for one ticket, for `staff` who may read it; an inactive template
    is 409 `template_inactive`. A value the ticket does not have yet reads as an empty string
    (names) or "soon" (deadlines)."""
    ticket, personal = await tickets.for_reading(session, ticket_id, settings, staff=staff)
    template = await read(session, template_id)
    if not template.active:
        raise Conflict("this reply template is inactive", code="template_inactive")
    name = "" if personal.name == ERASED else personal.name
    sla = tickets.sla_clocks(ticket)
    zone = settings.reply_time_zone
    values = {
        "customer_first_name": domain.first_name(name),
        "customer_name": name,
        "ticket_number": ticket.number,
        "agent_name": staff.name or (ticket.assignee_name if ticket.assignee_id == staff.sub else None) or "",
        "department_name": ticket.department_name or "",
        "first_response_due": domain.readable(sla.due(ClockKind.FIRST_RESPONSE) if sla else None, zone),
        "resolution_due": domain.readable(sla.due(ClockKind.RESOLUTION) if sla else None, zone),
        "committed_resolution_at": domain.readable(ticket.committed_resolution_at, zone),
    }
    return domain.fill(template.body, values)


def _subject(template: ReplyTemplate) -> str:
    return f"reply_template:{template.id}"
