"""HTTP: agents see a ticket's clocks; supervisors list breaches and what is about to breach.
An agent or supervisor reads its own department's tickets only (sla learns a ticket's department
from routing's `ticket.assigned`, `ticket.reassigned` and `ticket.queued`; until then, only an
admin reads it); an admin reads all."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ticketloop_shared.api import RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentStaff, check_department, department_scope
from ticketloop_shared.errors import NotFound, Unprocessable
from ticketloop_shared.events import ClockKind, EscalationTarget
from ticketloop_shared.validation import MAX_OFFSET, Instant
from ticketloop_sla.clocks import repository, service
from ticketloop_sla.clocks.schemas import (
    BreachOut,
    BreachPage,
    ClockOut,
    DueOut,
    DuePage,
    EscalationOut,
    EscalationPage,
    PolicyRef,
    TicketSlaOut,
)
from ticketloop_sla.policies import service as policies

router = APIRouter(prefix="/v1", tags=["sla"])

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Department = Annotated[str | None, Query(min_length=1, max_length=64, description="Only this department's tickets")]

_errors: dict[int | str, dict[str, object]] = {
    401: {"description": "Missing or invalid credentials"},
    403: {"description": "`department_required`, `not_your_department`: another department's records"},
    422: {"description": "Validation error"},
}


@router.get(
    "/tickets/{ticket_id}/sla",
    response_model=TicketSlaOut,
    responses={
        **_errors,
        403: {"description": "`not_your_department`; `ticket_not_routed`: admins only until routed"},
        404: {"description": "`ticket_not_found`: sla has not seen this ticket"},
    },
)
async def get_ticket_sla(
    ticket_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, runtime: RuntimeDep
) -> TicketSlaOut:
    """Every cycle of every metric of the ticket, as it stands now, and the policy that applies
    (its department's staff, or an admin)."""
    ticket = await repository.ticket(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no SLA clocks for ticket {ticket_id}", code="ticket_not_found")
    check_department(staff, ticket.department_id)
    r = await policies.rules(session, runtime.state)
    now = runtime.clock.now()
    policy = r.policy(ticket.policy_id)
    clocks = []
    for row in await repository.cycles_of(session, ticket_id):
        cycle = repository.cycle_of(row)
        used, left = service.elapsed_remaining(cycle, now, r)
        clocks.append(
            ClockOut(
                clock=cycle.kind,
                cycle=cycle.cycle,
                current=cycle.current,
                status=cycle.status,
                calendar=cycle.calendar,
                target_seconds=cycle.target_seconds,
                started_at=cycle.started_at,
                due_at=cycle.due_at,
                elapsed_seconds=used,
                remaining_seconds=left,
                paused_seconds=cycle.paused_seconds
                + ((now - cycle.paused_at).total_seconds() if cycle.paused_at else 0.0),
                stopped_at=cycle.stopped_at,
                breached_at=cycle.breached_at,
                margin_seconds=cycle.margin_seconds,
                warned=cycle.warned,
                escalation_level=cycle.escalation_level,
            )
        )
    return TicketSlaOut(
        ticket_id=ticket.ticket_id,
        ticket_number=ticket.number,
        status=ticket.status,
        department_id=ticket.department_id,
        agent_id=ticket.agent_id,
        policy=PolicyRef(id=policy.id, name=policy.name, version=policy.version),
        clocks=clocks,
    )


@router.get("/breaches", response_model=BreachPage, responses=_errors)
async def list_breaches(
    staff: CurrentStaff,
    session: SessionDep,
    metric: Annotated[ClockKind | None, Query(description="Only this metric")] = None,
    department: Department = None,
    since: Annotated[Instant | None, Query(description="Breached at or after")] = None,
    until: Annotated[Instant | None, Query(description="Breached before")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> BreachPage:
    """Missed deadlines, newest first, filterable by metric, department (team) and time; an
    agent or supervisor sees its own department's only (asking for another is a 403)."""
    department = department_scope(staff, department)
    if since is not None and until is not None and until <= since:
        raise Unprocessable("`until` must be after `since`", code="invalid_range")
    rows, total = await repository.breached_page(
        session, metric=metric, department=department, since=since, until=until, limit=limit, offset=offset
    )
    items = [
        BreachOut(
            ticket_id=c.ticket_id,
            ticket_number=c.ticket_number,
            channel=c.channel,
            department_id=t.department_id,
            agent_id=t.agent_id,
            policy_id=c.policy_id,
            clock=ClockKind(c.kind),
            cycle=c.cycle,
            started_at=c.started_at,
            due_at=c.due_at or c.breached_at or c.started_at,
            breached_at=c.breached_at or c.due_at or c.started_at,
            stopped_at=c.stopped_at,
            margin_seconds=c.margin_seconds,
        )
        for c, t in rows
    ]
    return BreachPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/escalations", response_model=EscalationPage, responses=_errors)
async def list_escalations(
    staff: CurrentStaff,
    session: SessionDep,
    level: Annotated[int | None, Query(ge=1, le=100, description="Only this step of the chain")] = None,
    department: Department = None,
    since: Annotated[Instant | None, Query(description="Reached at or after")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EscalationPage:
    """Escalation steps reached (`sla.escalated`), newest first, filterable by level, department
    and time; an agent or supervisor sees its own department's only (asking for another is a 403)."""
    department = department_scope(staff, department)
    rows, total = await repository.escalations_page(
        session, department=department, level=level, since=since, limit=limit, offset=offset
    )
    items = [
        EscalationOut(
            ticket_id=e.ticket_id,
            ticket_number=e.ticket_number,
            department_id=t.department_id,
            agent_id=e.agent_id,
            clock=ClockKind(e.clock),
            cycle=e.cycle,
            level=e.level,
            notify=EscalationTarget(e.notify),
            group=e.group,
            share=e.share,
            policy_id=e.policy_id,
            due_at=e.due_at,
            escalated_at=e.escalated_at,
        )
        for e, t in rows
    ]
    return EscalationPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/clocks/due", response_model=DuePage, responses=_errors)
async def clocks_due(
    staff: CurrentStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    within: Annotated[
        timedelta,
        Query(description="How far ahead to look: seconds, or an ISO 8601 duration such as PT30M"),
    ] = timedelta(minutes=30),
    metric: Annotated[ClockKind | None, Query()] = None,
    department: Department = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DuePage:
    """Running cycles that breach within `within` unless someone acts: a supervisor's
    "about to breach" view, soonest first (already overdue ones the timer has not reached yet
    come first). An agent or supervisor sees its own department's only."""
    department = department_scope(staff, department)
    if not timedelta(0) < within <= timedelta(days=31):
        raise Unprocessable("`within` must be more than 0 and at most 31 days", code="invalid_within")
    now: datetime = runtime.clock.now()
    rows, total = await repository.due_page(
        session, before=now + within, department=department, metric=metric, limit=limit, offset=offset
    )
    items = [
        DueOut(
            ticket_id=c.ticket_id,
            ticket_number=c.ticket_number,
            department_id=t.department_id,
            agent_id=t.agent_id,
            clock=ClockKind(c.kind),
            cycle=c.cycle,
            due_at=c.due_at or now,
            remaining_seconds=((c.due_at or now) - now).total_seconds(),
        )
        for c, t in rows
    ]
    return DuePage(items=items, total=total, limit=limit, offset=offset)
