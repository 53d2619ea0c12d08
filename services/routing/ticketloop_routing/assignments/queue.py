"""Departments' queues: waiting tickets are given out, highest score first, the moment capacity
frees (a ticket resolved or closed, an agent available again, the organisation changed) and by a
sweep every few seconds as a safety net. Private to the feature: other features reach
assignments through `service.py`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.placement import (
    base_score,
    candidates,
    give_held,
    manager_first,
    member_ids,
    organisation_of,
    place,
)
from ticketloop_routing.customers import service as customers
from ticketloop_routing.organisation.domain import DepartmentConfig, OrgSnapshot
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.vocabulary import Segment

log = logging.getLogger(__name__)

# How many waiting tickets one pass over a department's queue considers.
QUEUE_PASS = 100


async def fill_queue(uow: RoutingUnit, *, department_id: str, org: OrgSnapshot | None = None) -> int:
    """Give a department's waiting tickets to its agents with room, highest score first (a ticket
    nobody eligible can take, e.g. for want of a skill, is passed over, not a block); how many."""
    org = org or await organisation_of(uow)
    department = org.departments.get(department_id)
    if department is None:
        return 0
    rows = await repository.queued_head(uow.session, department_id, limit=QUEUE_PASS)
    if not rows:
        return 0
    return await _give_out(uow, org, department, rows)


async def _give_out(
    uow: RoutingUnit, org: OrgSnapshot, department: DepartmentConfig, rows: Sequence[Assignment]
) -> int:
    """One pass over the head of a queue; a slot lost to another transaction moves on to the
    next ticket with fresh state (the sweep comes back for this one)."""
    session, default, now = uow.session, uow.settings.default_capacity, uow.now()
    managers = await customers.account_managers_for(
        session, [r.customer_id for r in rows if r.customer_id and r.segment == Segment.HIGH_VALUE]
    )
    ids = [*member_ids(org, department), *(m for m in managers.values() if m in org.agents)]
    live = await repository.agent_states(session, ids)
    given = 0
    for row in rows:
        pool = candidates(org, ids, live, default)
        if not any(domain.why_not(c, required_skills=None) is None for c in pool):
            break  # nobody has room: the rest of the queue waits too
        manager = managers.get(row.customer_id or "")
        waited = domain.waited(row.queued_at, now)
        base = row.score if row.score is not None else base_score(row)
        choice = domain.choose_agent(
            [c for c in pool if c.agent.department_id == department.id or c.agent.id == manager],
            strategy=department.strategy,
            required_skills=row.required_skills or (),
            preferred=manager_first(org, manager),
            score=base + domain.WAIT_POINTS_PER_MINUTE * waited / 60.0,
            waited_seconds=waited,
        )
        if choice.agent_id is None:
            continue
        taken = await repository.take(
            session, choice.agent_id, capacity=org.capacity_of(org.agents[choice.agent_id], default)
        )
        if taken is None:  # changed under us: read again, try the next ticket with the fresh state
            live = await repository.agent_states(session, ids)
            continue
        live[choice.agent_id] = taken
        await give_held(uow, org, row, department, choice=choice)
        given += 1
    return given


async def fill_queues(uow: RoutingUnit) -> int:
    """Fill every department's queue that has waiting tickets; tickets waiting in a department
    that no longer exists move to the one owning their category. Each department is filled in
    its own savepoint: one that fails is logged and skipped."""
    waiting = await repository.queue_sizes(uow.session)
    if not waiting:
        return 0
    org = await organisation_of(uow)
    given = 0
    for department_id in sorted(waiting):
        async with uow.isolated("filling a department's queue", department=department_id):
            if department_id in org.departments:
                given += await fill_queue(uow, department_id=department_id, org=org)
            else:
                await _rehome(uow, org, department_id)
    return given


async def _rehome(uow: RoutingUnit, org: OrgSnapshot, department_id: str) -> None:
    for row in await repository.queued_head(uow.session, department_id, limit=QUEUE_PASS):
        department = org.department_for(row.category or "")
        if department is not None:
            because = f"department_removed: {department_id} is no longer in the organisation"
            await place(uow, row, org, department, because=because)


async def refill_for(uow: RoutingUnit, agent_id: str, *, org: OrgSnapshot | None = None) -> None:
    """The agent has room (or is back): its department's queue may move."""
    org = org or await organisation_of(uow)
    agent = org.agents.get(agent_id)
    if agent is not None:
        await fill_queue(uow, department_id=agent.department_id, org=org)
