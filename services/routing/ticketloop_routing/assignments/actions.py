"""People acting on a ticket routing holds: an agent takes a waiting ticket, a supervisor assigns
one to a named agent or transfers it to another department. Each is checked (`domain.act_refusal`,
`domain.holder_refusal`), recorded with the act in its reason (rule `taken`, `assigned_by`,
`transferred`, the actor and the note), announced through the unit of work, audited in the same
transaction, and idempotent: repeating an act that already holds changes nothing and announces
nothing. A transfer places the ticket in its new department through `placement.place`, routing's
one choose / retry / queue loop. Private to the feature: other features reach assignments through
`service.py`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.domain import Act, Candidate, Choice, State
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.placement import (
    Stamp,
    base_score,
    candidates,
    give_held,
    manager_first,
    organisation_of,
    place,
)
from ticketloop_routing.assignments.queue import refill_for
from ticketloop_routing.customers import service as customers
from ticketloop_routing.db import audit
from ticketloop_routing.organisation.domain import DepartmentConfig, OrgSnapshot
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from ticketloop_shared.vocabulary import Segment

# Each refusal's status and what it tells the caller.
_REFUSALS: dict[str, tuple[type[DomainError], str]] = {
    "not_your_department": (Forbidden, "the ticket belongs to another department than yours"),
    "supervisor_required": (Forbidden, "only a supervisor of the ticket's department or an admin may do this"),
    "agent_or_supervisor_required": (Forbidden, "only an agent or supervisor of the ticket's department may take it"),
    "department_required": (Forbidden, "your token names no department; ask for one that does"),
    "staff_required": (Forbidden, "this needs an agent, supervisor or admin token"),
    "agent_not_in_department": (Conflict, "the ticket can only go to an agent of its department"),
    "agent_inactive": (Conflict, "the agent is inactive in the organisation"),
    "agent_away": (Conflict, "the agent is not available; override with a note to assign anyway"),
    "agent_at_capacity": (Conflict, "the agent is at capacity; override with a note to assign anyway"),
    "note_required": (Unprocessable, "say why in `note` (an override of presence or capacity, a transfer)"),
}


def _refuse(code: str | None, **details: Any) -> None:
    """Raise the refusal `code` names (nothing when None)."""
    if code is None:
        return
    error, message = _REFUSALS[code]
    raise error(message, code=code, details={k: v for k, v in details.items() if v is not None} or None)


async def held(session: AsyncSession, ticket_id: uuid.UUID, *, act: Act, by: Principal) -> Assignment:
    """The ticket's assignment once `by` may do `act` to it (locked, unless only read)."""
    row = await repository.get(session, ticket_id, for_update=act is not Act.READ)
    if row is None:
        raise NotFound(f"routing has not seen ticket {ticket_id}", code="ticket_not_found")
    refusal = domain.act_refusal(act, role=by.role.value, department=by.department, ticket_department=row.department_id)
    _refuse(refusal, department_id=row.department_id if refusal == "not_your_department" else None)
    return row


def _open(row: Assignment) -> None:
    if row.state == State.CLOSED:
        raise Conflict("the ticket is resolved or closed; reopen it first", code="ticket_closed")


def _department_of(org: OrgSnapshot, row: Assignment) -> DepartmentConfig:
    department = org.departments.get(row.department_id or "")
    if department is None:
        raise Conflict(
            f"the ticket's department {row.department_id!r} is no longer in the organisation",
            code="unknown_department",
            details={"department_id": row.department_id},
        )
    return department


async def take(uow: RoutingUnit, *, ticket_id: uuid.UUID, by: Principal) -> bool:
    """The caller takes a ticket waiting in its department's queue (within its presence and
    capacity, when it is a configured agent). False when it holds the ticket already."""
    row = await held(uow.session, ticket_id, act=Act.TAKE, by=by)
    _open(row)
    if row.state == State.ASSIGNED:
        if row.agent_id == by.sub:
            return False
        raise Conflict(
            "the ticket is not waiting: someone owns it", code="ticket_not_waiting", details={"agent_id": row.agent_id}
        )
    org = await organisation_of(uow)
    department = _department_of(org, row)
    act = Stamp(rule=domain.RULE_TAKEN, actor=domain.actor_of(by.role.value, by.sub))
    await _hand_over(uow, org, row, department, holder=by.sub, unlisted_ok=by.role is Role.SUPERVISOR, act=act)
    await _audit(uow, by, "ticket.taken", row, department_id=department.id, agent_id=by.sub)
    return True


async def assign(
    uow: RoutingUnit, *, ticket_id: uuid.UUID, agent_id: str, note: str | None, override: bool, by: Principal
) -> bool:
    """A supervisor (or admin) gives the ticket to a named agent of its department, or to the
    department's supervisor; an away or full agent only with `override` and a note. False when
    that agent owns it already."""
    _refuse(domain.override_refusal(override=override, note=note))
    row = await held(uow.session, ticket_id, act=Act.ASSIGN, by=by)
    _open(row)
    if row.state == State.ASSIGNED and row.agent_id == agent_id:
        return False
    org = await organisation_of(uow)
    department = _department_of(org, row)
    previous = row.agent_id if row.state == State.ASSIGNED else None
    act = Stamp(rule=domain.RULE_ASSIGNED_BY, actor=domain.actor_of(by.role.value, by.sub), note=_clean(note))
    await _hand_over(
        uow,
        org,
        row,
        department,
        holder=agent_id,
        unlisted_ok=agent_id == department.supervisor,
        act=act,
        override=override,
    )
    await _audit(
        uow,
        by,
        "ticket.assigned",
        row,
        department_id=department.id,
        agent_id=agent_id,
        previous_agent_id=previous,
        override=override,
        note=act.note,
    )
    if previous is not None:
        await refill_for(uow, previous, org=org)
    return True


async def transfer(uow: RoutingUnit, *, ticket_id: uuid.UUID, department_id: str, note: str, by: Principal) -> bool:
    """A supervisor of the ticket's department (or an admin) sends it to another department,
    where routing places it as it would a new ticket there (an agent, or the queue). The owner it
    leaves is freed. False when it is in that department already."""
    _refuse(None if note.strip() else "note_required")
    row = await held(uow.session, ticket_id, act=Act.TRANSFER, by=by)
    _open(row)
    org = await organisation_of(uow)
    target = org.departments.get(department_id)
    if target is None:
        raise Conflict(
            f"no department {department_id!r} in the organisation",
            code="unknown_department",
            details={"department_id": department_id},
        )
    if row.department_id == target.id:
        return False
    source, previous = row.department_id, row.agent_id if row.state == State.ASSIGNED else None
    preferred: list[tuple[str, str]] = []
    if row.segment == Segment.HIGH_VALUE and row.customer_id:
        manager = (await customers.account_managers_for(uow.session, [row.customer_id])).get(row.customer_id)
        if manager is not None and manager in org.agents and org.agents[manager].department_id == target.id:
            preferred = manager_first(org, manager)
    if previous is not None:
        await repository.add_load(uow.session, previous, -1)
    act = Stamp(rule=domain.RULE_TRANSFERRED, actor=domain.actor_of(by.role.value, by.sub), note=_clean(note))
    placed = await place(
        uow, row, org, target, preferred=preferred, previous_agent_id=previous, announce="reassigned", act=act
    )
    await _audit(
        uow,
        by,
        "ticket.transferred",
        row,
        from_department_id=source,
        department_id=target.id,
        previous_agent_id=previous,
        agent_id=placed.agent_id,
        note=act.note,
    )
    if previous is not None:
        await refill_for(uow, previous, org=org)
    return True


async def _hand_over(
    uow: RoutingUnit,
    org: OrgSnapshot,
    row: Assignment,
    department: DepartmentConfig,
    *,
    holder: str,
    unlisted_ok: bool,
    act: Stamp,
    override: bool = False,
) -> None:
    """Give the locked ticket to `holder` by hand: count it in their load (a configured agent's
    slot taken under the same guard routing uses, unless overridden), release the owner it
    leaves, record the decision and announce it (`ticket.assigned`, or `ticket.reassigned` when
    it leaves an owner)."""
    session = uow.session
    person = await _candidate(uow, org, holder)
    refusal = domain.holder_refusal(person, department_id=department.id, unlisted_ok=unlisted_ok, override=override)
    _refuse(refusal, **_state_details(holder, person))
    if person is None or override:
        await repository.add_load(session, holder, 1)
    elif await repository.take(session, holder, capacity=person.capacity) is None:
        # Another transaction changed the agent meanwhile (took its last slot, set it away).
        again = await _candidate(uow, org, holder)
        code = domain.holder_refusal(again, department_id=department.id, unlisted_ok=unlisted_ok)
        _refuse(code or "agent_at_capacity", **_state_details(holder, again))
    previous = row.agent_id if row.state == State.ASSIGNED else None
    if previous is not None:
        await repository.add_load(session, previous, -1)
    now = uow.now()
    waited = domain.waited(row.queued_at, now) if row.state == State.QUEUED else 0.0
    reason = domain.manual_reason(
        rule=act.rule,
        actor=act.actor,
        note=act.note,
        strategy=department.strategy,
        score=base_score(row) + domain.WAIT_POINTS_PER_MINUTE * waited / 60.0,
        holder=person,
        waited_seconds=waited,
    )
    await give_held(
        uow,
        org,
        row,
        department,
        choice=Choice(agent_id=holder, reason=reason),
        announce="reassigned",
        previous_agent_id=previous,
    )


async def _candidate(uow: RoutingUnit, org: OrgSnapshot, person: str) -> Candidate | None:
    """`person` as a configured agent with their live state; None when they are not one."""
    live = await repository.agent_states(uow.session, [person])
    found = candidates(org, [person], live, uow.settings.default_capacity)
    return found[0] if found else None


def _state_details(agent_id: str, person: Candidate | None) -> dict[str, Any]:
    if person is None:
        return {"agent_id": agent_id}
    return {
        "agent_id": agent_id,
        "department_id": person.agent.department_id,
        "presence": person.presence.value,
        "open_tickets": person.open_tickets,
        "capacity": person.capacity,
    }


def _clean(note: str | None) -> str | None:
    return note.strip() or None if note is not None else None


async def _audit(uow: RoutingUnit, by: Principal, action: str, row: Assignment, **details: Any) -> None:
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action=action,
        subject=f"ticket:{row.ticket_id}",
        details={k: v for k, v in details.items() if v is not None},
    )
