"""What the ticket endpoints share: a ticket rendered for staff and for its channel (response
models are built here, from domain objects), a page of tickets, the Idempotency-Key header and
the run-at-most-once wrapper every change goes through."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.attachments.schemas import AttachmentOut
from ticketloop_intake.idempotency.service import fingerprint, run_once
from ticketloop_intake.knowledge.schemas import SuggestionOut
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service
from ticketloop_intake.tickets.domain import SlaClocks, Status
from ticketloop_intake.tickets.lifecycle import Personal
from ticketloop_intake.tickets.models import Ticket, TimelineEntry
from ticketloop_intake.tickets.schemas import (
    AssigneeOut,
    CustomerLinkOut,
    CustomerOut,
    DeadlinesOut,
    ResolutionTimesOut,
    RoutingReasonOut,
    SlaClockOut,
    SlaOut,
    TicketOut,
    TicketPage,
    TicketSummary,
    TimelineEntryOut,
)
from ticketloop_intake.tickets.service import TicketView
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.events import CareOutcome, ClockKind, TicketOrigin
from ticketloop_shared.privacy import mask_contact
from ticketloop_shared.vocabulary import Category, Channel

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request with the same key to get the first response back, never a second effect.",
    ),
]

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    404: {"description": "Unknown ticket"},
    409: {"description": "Not allowed in the ticket's status, or Idempotency-Key reused"},
    413: {"description": "Body too large"},
    422: {"description": "Validation error"},
}
STAFF_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    403: {"description": "Not your department's ticket, or only its assignee or a supervisor may do this"},
}
# Timeline entries the channel (and so the customer) never sees.
INTERNAL_KINDS = frozenset({"note"})


class NoBody(BaseModel):
    """The fingerprint of a request that has no body."""


def render(view: TicketView, settings: IntakeSettings, *, now: datetime, for_channel: bool = False) -> TicketOut:
    """A ticket as read back to its channel and shown to agents (contact masked; the channel
    never sees internal notes; staff see the customer's pseudonymous id, the channel its own
    reference)."""
    ticket, personal = view.ticket, view.personal
    link = None if view.other_channel else service.link_for(settings, ticket, now)
    sla = service.sla_clocks(ticket)
    return TicketOut(
        id=ticket.id,
        number=ticket.number,
        status=Status(ticket.status),
        channel=Channel(ticket.channel),
        category=Category(ticket.category),
        need=ticket.need,
        urgency=ticket.urgency,
        subject=personal.subject,
        description=personal.description,
        customer=_customer(ticket, personal, for_channel=for_channel),
        assignee=_assignee(ticket),
        deadlines=_deadlines(sla),
        sla=_sla(sla),
        expected_resolution_at=ticket.expected_resolution_at,
        required_skills=list(ticket.required_skills or ()),
        resolution_times=ResolutionTimesOut(
            expected_by_customer=ticket.expected_resolution_at,
            committed=ticket.committed_resolution_at,
            committed_at=ticket.plan_committed_at,
            actual=ticket.resolved_at,
        ),
        created_at=ticket.created_at,
        origin=TicketOrigin(ticket.origin),
        origin_id=ticket.origin_id,
        linked_ticket_id=ticket.linked_ticket_id,
        due_at=ticket.due_at,
        outcome=CareOutcome(ticket.care_outcome) if ticket.care_outcome else None,
        first_response_at=ticket.first_response_at,
        last_update_at=ticket.last_update_at,
        waiting_since=ticket.waiting_since,
        resolved_at=ticket.resolved_at,
        self_service=bool(ticket.self_service),
        followed_up_at=ticket.followed_up_at,
        closed_at=ticket.closed_at,
        reopened_at=ticket.reopened_at,
        reopen_count=ticket.reopen_count or 0,
        version=ticket.version or 1,
        customer_link=CustomerLinkOut(url=link[0], expires_at=link[1]) if link else None,
        repeat_contact=view.repeat_contact,
        suggestions=[
            SuggestionOut(article_id=x.article_id, title=x.title, snippet=x.snippet, rank=x.rank)
            for x in view.suggestions
        ],
        timeline=[
            TimelineEntryOut(
                id=e.id,
                at=e.at,
                kind=e.kind,
                actor=e.actor,
                body=personal.bodies.get(e.id),
                reason=None if for_channel else _reason(e),
                attachments=[
                    AttachmentOut(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size)
                    for a in view.attachments.get(e.id, ())
                ],
            )
            for e in view.timeline
            if not (for_channel and e.kind in INTERNAL_KINDS)
        ],
    )


def _reason(entry: TimelineEntry) -> RoutingReasonOut | None:
    """Routing's reason kept on an assignment or queue entry (a supervisor's note is for staff)."""
    kept = entry.reason
    if not kept or not kept.get("rule"):
        return None
    return RoutingReasonOut(
        rule=str(kept["rule"]),
        strategy=kept.get("strategy"),
        score=kept.get("score"),
        actor=kept.get("actor"),
        note=kept.get("note"),
    )


def _assignee(ticket: Ticket) -> AssigneeOut | None:
    if not (ticket.assignee_id and ticket.assigned_at):
        return None
    return AssigneeOut(
        agent_id=ticket.assignee_id,
        agent_name=ticket.assignee_name or "",
        department_id=ticket.department_id or "",
        department_name=ticket.department_name or "",
        assigned_at=ticket.assigned_at,
    )


def _customer(ticket: Ticket, personal: Personal, *, for_channel: bool) -> CustomerOut:
    """The customer as staff and the channel see them: the contact masked; the id the
    pseudonym, but for the channel its own reference (the pseudonym once erased)."""
    return CustomerOut(
        id=(personal.reference or ticket.customer_id) if for_channel else ticket.customer_id,
        name=personal.name,
        contact_masked=mask_contact(personal.contact),
        customer_since=ticket.customer_since,
        annual_spend=ticket.customer_annual_spend,
        preferred_channel=ticket.customer_preferred_channel,
    )


def _deadlines(sla: SlaClocks | None) -> DeadlinesOut:
    if sla is None:
        return DeadlinesOut(acknowledgement_due=None, first_response_due=None, resolution_due=None)
    return DeadlinesOut(
        acknowledgement_due=sla.due(ClockKind.ACKNOWLEDGEMENT),
        first_response_due=sla.due(ClockKind.FIRST_RESPONSE),
        resolution_due=sla.due(ClockKind.RESOLUTION),
    )


def _sla(sla: SlaClocks | None) -> SlaOut | None:
    if sla is None:
        return None
    return SlaOut(
        policy_id=sla.policy_id,
        version=sla.version,
        clocks=[
            SlaClockOut(
                clock=c.clock,
                cycle=c.cycle,
                status=c.status,
                started_at=c.started_at,
                due_at=c.due_at,
                target_seconds=c.target_seconds,
                paused_seconds=c.paused_seconds,
                stopped_at=c.stopped_at,
                breached_at=c.breached_at,
            )
            for c in sla.clocks
        ],
    )


def renderer(uow: IntakeUnit, *, for_channel: bool = False) -> Callable[[uuid.UUID], Awaitable[TicketOut]]:
    async def current(ticket_id: uuid.UUID) -> TicketOut:
        view = await service.read(uow.session, ticket_id, uow.settings)
        return render(view, uow.settings, now=uow.now(), for_channel=for_channel)

    return current


async def once(
    uow: IntakeUnit,
    request: Request,
    *,
    scope: str,
    key: str | None,
    body: BaseModel,
    status_code: int,
    action: Callable[[], Awaitable[Ticket]],
    for_channel: bool = False,
) -> Response:
    """Run a change at most once per Idempotency-Key and answer with the ticket as it now stands."""

    async def act() -> tuple[uuid.UUID, TicketOut]:
        ticket = await action()
        view = await service.view(uow.session, ticket, uow.settings)
        return ticket.id, render(view, uow.settings, now=uow.now(), for_channel=for_channel)

    return await run_once(
        uow.session,
        scope=scope,
        key=key,
        request_hash=fingerprint("POST", request.url.path, body),
        status_code=status_code,
        action=act,
        render=renderer(uow, for_channel=for_channel),
        now=uow.now(),
        ttl=timedelta(hours=uow.settings.idempotency_ttl_hours),
    )


async def page(
    session: AsyncSession,
    settings: IntakeSettings,
    rows: Sequence[Ticket],
    total: int,
    *,
    limit: int,
    offset: int,
    for_channel: bool = False,
) -> TicketPage:
    """A page of tickets with their subjects opened (the priority score is staff's only)."""
    subjects = await service.subjects(session, rows, settings)
    customers = (
        await service.channel_references(session, rows, settings) if for_channel else [t.customer_id for t in rows]
    )
    items = [
        TicketSummary(
            id=t.id,
            number=t.number,
            status=Status(t.status),
            channel=Channel(t.channel),
            category=Category(t.category),
            urgency=t.urgency,
            subject=subject,
            customer_id=customer,
            department_id=t.department_id,
            assignee_id=t.assignee_id,
            created_at=t.created_at,
            priority_score=None if for_channel else t.priority_score,
            next_due_at=t.next_due_at,
            next_due_clock=ClockKind(t.next_due_clock) if t.next_due_clock else None,
            origin=TicketOrigin(t.origin),
            due_at=t.due_at,
        )
        for t, subject, customer in zip(rows, subjects, customers, strict=True)
    ]
    return TicketPage(items=items, total=total, limit=limit, offset=offset)
