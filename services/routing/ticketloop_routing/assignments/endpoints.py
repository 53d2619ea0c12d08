"""HTTP: who owns a ticket and why; what waits in each department's queue."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import domain, repository, service
from ticketloop_routing.assignments.domain import State
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.schemas import (
    AssignIn,
    AssignmentOut,
    DecisionOut,
    QueuedTicketOut,
    QueueOut,
    TransferIn,
)
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.schemas import ETAG_HEADER, AgentOut, Organisation, PresenceIn
from ticketloop_routing.unit import RoutingUnit, RoutingUowDep
from ticketloop_shared.api import IfMatchRequired, RuntimeDep, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.events import AssignmentReason
from ticketloop_shared.validation import STORABLE, ShortText

router = APIRouter(prefix="/v1", tags=["assignments"])


def _reason(raw: object) -> AssignmentReason | None:
    return AssignmentReason.model_validate(raw) if raw else None


def _score_now(row: Assignment, runtime: RuntimeDep) -> float | None:
    if row.state == State.QUEUED and row.queue_rank is not None:
        return round(domain.score_at(row.queue_rank, runtime.clock.now()), 3)
    return row.score


NOT_YOURS = "the ticket belongs to another department (`not_your_department`)"


async def _assignment_out(session: AsyncSession, row: Assignment, runtime: RuntimeDep) -> AssignmentOut:
    return AssignmentOut(
        ticket_id=row.ticket_id,
        ticket_number=row.ticket_number,
        category=row.category,
        state=row.state,
        department_id=row.department_id,
        agent_id=row.agent_id,
        assigned_at=row.assigned_at,
        queued_at=row.queued_at,
        closed_at=row.closed_at,
        touched_at=row.touched_at,
        urgency=row.urgency,
        channel=row.channel,
        segment=row.segment,
        required_skills=list(row.required_skills or ()),
        score=_score_now(row, runtime),
        decision=row.decision,
        reason=_reason(row.reason),
        history=[
            DecisionOut(
                at=h.at,
                decision=h.decision,
                state=h.state,
                department_id=h.department_id,
                agent_id=h.agent_id,
                reason=_reason(h.reason),
            )
            for h in await repository.history(session, row.ticket_id)
        ],
    )


async def _after(uow: RoutingUnit, runtime: RuntimeDep, ticket_id: uuid.UUID) -> AssignmentOut:
    """The ticket as the act left it (read in the act's own transaction)."""
    row = await repository.get(uow.session, ticket_id)
    assert row is not None
    return await _assignment_out(uow.session, row, runtime)


@router.get(
    "/assignments/{ticket_id}",
    response_model=AssignmentOut,
    responses={403: {"description": NOT_YOURS}, 404: {"description": "Unknown ticket (`ticket_not_found`)"}},
)
async def get_assignment(
    ticket_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, staff: CurrentStaff
) -> AssignmentOut:
    """The department and agent owning a ticket (or the queue it waits in), the reason routing
    gave, and the decisions it replaced. An agent or supervisor reads its own department's
    tickets only; an admin reads all."""
    row = await service.held(session, ticket_id, act=domain.Act.READ, by=staff)
    return await _assignment_out(session, row, runtime)


@router.get("/queues", response_model=list[QueueOut], responses={403: {"description": NOT_YOURS}})
async def list_queues(
    session: SessionDep,
    runtime: RuntimeDep,
    staff: CurrentStaff,
    department_id: Annotated[ShortText | None, Query(description="Only this department's queue")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many tickets per department")] = 50,
) -> list[QueueOut]:
    """Departments' waiting tickets, best first, with their score now and time waited: an agent
    or supervisor sees its own department's queue only (asking for another is a 403), an admin
    every department's."""
    department_id = organisation.scoped(staff, department_id, what="queue")
    now = runtime.clock.now()
    sizes = await repository.queue_sizes(session)
    rows = await repository.queued(session, department_id=department_id, limit=limit)
    names = await organisation.department_names(session)
    wanted = [department_id] if department_id is not None else sorted(set(names) | set(sizes))
    return [
        QueueOut(
            department_id=d,
            department_name=names.get(d, d),
            waiting=sizes.get(d, 0),
            tickets=[
                QueuedTicketOut(
                    position=i,
                    ticket_id=r.ticket_id,
                    ticket_number=r.ticket_number,
                    category=r.category,
                    urgency=r.urgency,
                    channel=r.channel,
                    segment=r.segment,
                    required_skills=list(r.required_skills or ()),
                    score=round(domain.score_at(r.queue_rank or 0.0, now), 3),
                    queued_at=r.queued_at or now,
                    waited_seconds=round(domain.waited(r.queued_at, now), 3),
                )
                for i, r in enumerate(rows.get(d, []), start=1)
            ],
        )
        for d in wanted
        if d in names or d in sizes
    ]


# --- what staff do to a ticket ---------------------------------------------------------------

ACT_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "The caller may not (`not_your_department`, `supervisor_required`, "
        "`agent_or_supervisor_required`)"
    },
    404: {"description": "Routing has not seen the ticket (`ticket_not_found`)"},
}


@router.post(
    "/tickets/{ticket_id}/take",
    response_model=AssignmentOut,
    responses={
        **ACT_RESPONSES,
        409: {
            "description": "`ticket_not_waiting` (someone owns it), `ticket_closed`, `agent_away`, "
            "`agent_at_capacity`, `agent_not_in_department`, `agent_inactive`, `unknown_department`"
        },
    },
)
async def take_ticket(
    ticket_id: uuid.UUID, uow: RoutingUowDep, runtime: RuntimeDep, staff: CurrentStaff
) -> AssignmentOut:
    """Take a ticket waiting in your department's queue: it becomes yours (`ticket.assigned`,
    reason rule `taken`), within your presence and capacity. Taking a ticket you own already
    changes nothing."""
    await service.take(uow, ticket_id=ticket_id, by=staff)
    return await _after(uow, runtime, ticket_id)


@router.post(
    "/tickets/{ticket_id}/assign",
    response_model=AssignmentOut,
    responses={
        **ACT_RESPONSES,
        409: {
            "description": "`agent_away`, `agent_at_capacity` (send `override` with a `note`), "
            "`agent_not_in_department`, `agent_inactive`, `ticket_closed`, `unknown_department`"
        },
        422: {"description": "`note_required`: an override without a note; or a validation error"},
    },
)
async def assign_ticket(
    ticket_id: uuid.UUID, body: AssignIn, uow: RoutingUowDep, runtime: RuntimeDep, staff: CurrentStaff
) -> AssignmentOut:
    """Give a ticket to a named agent of its department (or to the department's supervisor):
    `ticket.assigned`, or `ticket.reassigned` when it had an owner, reason rule `assigned_by`
    with who did it and the note. An away or full agent only with `override: true` and a note.
    Assigning it to the agent who owns it already changes nothing. Supervisors of the ticket's
    department and admins only."""
    await service.assign(
        uow, ticket_id=ticket_id, agent_id=body.agent_id, note=body.note, override=body.override, by=staff
    )
    return await _after(uow, runtime, ticket_id)


@router.post(
    "/tickets/{ticket_id}/transfer",
    response_model=AssignmentOut,
    responses={
        **ACT_RESPONSES,
        409: {"description": "`unknown_department`, `ticket_closed`"},
        422: {"description": "`note_required` (a blank note); or a validation error"},
    },
)
async def transfer_ticket(
    ticket_id: uuid.UUID, body: TransferIn, uow: RoutingUowDep, runtime: RuntimeDep, staff: CurrentStaff
) -> AssignmentOut:
    """Send a ticket to another department: routing places it there as it would a new ticket
    (`ticket.reassigned` or `ticket.assigned` to one of its agents, or `ticket.queued` in its
    queue), reason rule `transferred` with who did it and the note; the owner it leaves is freed.
    Transferring it to the department it is in changes nothing. Supervisors of the ticket's
    department and admins only."""
    await service.transfer(uow, ticket_id=ticket_id, department_id=body.department_id, note=body.note, by=staff)
    return await _after(uow, runtime, ticket_id)


# --- changes to the organisation and to presence ---------------------------------------------
# Documented with the organisation (same tag), served here: what they set off (queues filled,
# tickets given out) is assignments' rule, and assignments depends on organisation, not back.
organisation_router = APIRouter(prefix="/v1", tags=["organisation"])

AgentId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]


@organisation_router.put(
    "/organisation",
    response_model=Organisation,
    responses={
        200: {"headers": ETAG_HEADER},
        409: {"description": "An agent removed by the change still owns open tickets (`agent_has_open_tickets`)"},
        412: {"description": "The organisation changed since the `If-Match` version was read (`organisation_changed`)"},
        428: {"description": "`If-Match` is missing (`if_match_required`)"},
    },
)
async def put_organisation(
    body: Organisation,
    uow: RoutingUowDep,
    admin: CurrentAdmin,
    if_match: IfMatchRequired,
    response: Response,
) -> Organisation:
    """Replace the organisation: validated whole (every reference resolves, every routed
    category has an active agent), only over the version the caller read, and audited. Waiting
    tickets are given to whoever the change made room for (more capacity, new agents)."""
    await service.replace_organisation(uow, body, if_match=if_match, by=admin)
    org = await organisation.current(uow.session)
    response.headers["ETag"] = organisation.etag(org)
    return org


@organisation_router.put(
    "/agents/{agent_id}/presence",
    response_model=AgentOut,
    responses={
        403: {
            "description": "Only the agent itself, a supervisor of its department or an admin may "
            "(`presence_not_own`, `presence_other_department`, `staff_required`)"
        },
        404: {"description": "No such agent (`agent_not_found`)"},
    },
)
async def put_presence(agent_id: AgentId, body: PresenceIn, uow: RoutingUowDep, staff: CurrentStaff) -> AgentOut:
    """Set an agent's presence: only `available` agents are given tickets; an agent available again
    takes its department's best waiting tickets, and an away agent's untouched tickets go to
    others after `TICKETLOOP_ROUTING_AWAY_REASSIGN_MINUTES`."""
    await service.set_presence(uow, agent_id=agent_id, presence=body.presence, by=staff)
    [agent] = await organisation.agents_out(
        uow.session, uow.state, default_capacity=uow.settings.default_capacity, agent_id=agent_id
    )
    return agent
