"""Routing's service layer: feeds the rules in `domain.py` with live state, applies what they
decide and announces it (`ticket.assigned`, `ticket.reassigned`, `ticket.queued`), each decision
stored with its reason.

A ticket goes to the department owning its category; there, to the customer's account manager
(high-value customers), else by the department's strategy among its available agents below
capacity; when nobody can take it, it waits in the department's queue, highest score first, and
is given out the moment capacity frees (a ticket resolved or closed, an agent available again,
the organisation changed, and a sweep every few seconds as a safety net).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.domain import Candidate, Choice, State
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.repository import AgentLive, TicketFacts
from ticketloop_routing.customers.domain import segment_of
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.domain import AgentConfig, DepartmentConfig, OrgSnapshot, Presence
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import (
    Envelope,
    EscalationTarget,
    SlaBreachedData,
    SlaEscalatedData,
    TicketAssignedData,
    TicketCreatedData,
    TicketPriorityChangedData,
    TicketQueuedData,
    TicketReassignedData,
    TicketRecategorisedData,
    TicketRef,
    TicketReopenedData,
)
from ticketloop_shared.vocabulary import Segment

log = logging.getLogger(__name__)

Announce = Literal["assigned", "reassigned"]
# Races lost to another replica (an agent's last slot taken meanwhile) before a ticket is queued.
MAX_ATTEMPTS = 5
# How many waiting tickets one pass over a department's queue considers.
QUEUE_PASS = 100


async def _organisation(uow: RoutingUnit) -> OrgSnapshot:
    org = await organisation.snapshot(uow.session, uow.state)
    if org is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    return org


def _candidates(
    org: OrgSnapshot, agent_ids: Sequence[str], live: dict[str, AgentLive], default: int | None
) -> list[Candidate]:
    """The configured agents among `agent_ids` with their live state (no row yet: available, idle)."""
    out: list[Candidate] = []
    for agent_id in dict.fromkeys(agent_ids):
        agent = org.agents.get(agent_id)
        if agent is None:
            continue
        state = live.get(agent_id)
        out.append(
            Candidate(
                agent=agent,
                presence=Presence(state.presence) if state else Presence.AVAILABLE,
                open_tickets=state.open_tickets if state else 0,
                capacity=org.capacity_of(agent, default),
                last_turn=state.last_turn if state else None,
            )
        )
    return out


def _member_ids(org: OrgSnapshot, department: DepartmentConfig) -> list[str]:
    return [a.id for a in org.members.get(department.id, ())]


def _facts(data: TicketRef, *, segment: Segment, required_skills: Sequence[str]) -> TicketFacts:
    return TicketFacts(
        ticket_id=data.ticket_id,
        ticket_number=data.number,
        category=data.category,
        channel=data.channel,
        urgency=data.urgency,
        customer_id=data.customer_id,
        segment=segment.value,
        required_skills=list(required_skills),
    )


def _assigned_data(
    org: OrgSnapshot, *, ticket_id: uuid.UUID, department: DepartmentConfig, agent_id: str, at: datetime, choice: Choice
) -> TicketAssignedData:
    return TicketAssignedData(
        ticket_id=ticket_id,
        department_id=department.id,
        department_name=department.name,
        agent_id=agent_id,
        agent_name=org.name_of(agent_id),
        assigned_at=at,
        reason=choice.reason,
    )


# --- A new ticket (the hot path) -----------------------------------------------------------


async def assign_many(uow: RoutingUnit, tickets: Sequence[tuple[TicketCreatedData, Envelope | None]]) -> list[bool]:
    """Route a run of new tickets and announce each (assigned or queued, caused by its event);
    nothing for a ticket routing already knows (a redelivery, or one resolved before routing saw
    it). Returns, per ticket, whether routing decided about it.

    One statement for the whole run reads the organisation version (the organisation itself is
    cached in memory), which tickets are known, the account managers and the candidates' live
    state; then each ticket costs one statement that takes the chosen agent's capacity (a
    conditional UPDATE, so replicas never exceed a capacity) and records the assignment with its
    reason. A ticket whose agent was taken meanwhile is decided again on fresh state."""
    session, settings, now = uow.session, uow.settings, uow.now()
    org = organisation.cached(uow.state) or await _organisation(uow)
    for _ in range(MAX_ATTEMPTS):
        departments = [_department(org, data.category) for data, _ in tickets]
        live = await repository.live_state(
            session,
            ticket_ids=[data.ticket_id for data, _ in tickets],
            agent_ids=sorted({a for d in departments for a in _member_ids(org, d)}),
            customer_ids=sorted({data.customer_id for data, _ in tickets}),
        )
        if live.version == org.version:
            break
        org = await _organisation(uow)
    else:
        raise RuntimeError("the organisation kept changing while routing read it")
    segments = [
        segment_of(
            customer_since=data.customer_since,
            annual_spend=data.customer_annual_spend,
            today=now.date(),
            high_value_spend=settings.high_value_annual_spend,
            announced=live.segments.get(data.customer_id),
        )
        for data, _ in tickets
    ]
    decided: list[bool] = []
    for (data, cause), segment, department in zip(tickets, segments, departments, strict=True):
        if data.ticket_id in live.known:
            facts = _facts(data, segment=segment, required_skills=data.required_skills)
            score = domain.priority_score(urgency=data.urgency, segment=segment, channel=data.channel)
            await repository.fill_facts(session, facts, score=score)
            decided.append(False)
            continue
        live.known.add(data.ticket_id)
        with uow.caused_by(cause) if cause is not None else nullcontext():
            decided.append(await _assign_new(uow, org, live, data, segment=segment, department=department))
    return decided


def _department(org: OrgSnapshot, category: str) -> DepartmentConfig:
    department = org.department_for(category)
    if department is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    return department


async def _assign_new(
    uow: RoutingUnit,
    org: OrgSnapshot,
    live: repository.LiveState,
    data: TicketCreatedData,
    *,
    segment: Segment,
    department: DepartmentConfig,
) -> bool:
    session, settings, now = uow.session, uow.settings, uow.now()
    facts = _facts(data, segment=segment, required_skills=data.required_skills)
    score = domain.priority_score(urgency=data.urgency, segment=segment, channel=data.channel)
    members = _member_ids(org, department)
    manager = live.account_managers.get(data.customer_id) if segment is Segment.HIGH_VALUE else None
    preferred = [(manager, domain.RULE_ACCOUNT_MANAGER)] if manager is not None and manager in org.agents else []
    ids = [*members, *(p for p, _ in preferred)]
    for _ in range(MAX_ATTEMPTS):
        choice = domain.choose_agent(
            _candidates(org, ids, live.agents, settings.default_capacity),
            strategy=department.strategy,
            required_skills=data.required_skills,
            preferred=preferred,
            score=score,
        )
        if choice.agent_id is None:
            return await _queue_new(uow, facts, department=department, score=score, choice=choice)
        taken, created = await repository.insert_assigned(
            session,
            facts,
            department_id=department.id,
            agent_id=choice.agent_id,
            capacity=org.capacity_of(org.agents[choice.agent_id], settings.default_capacity),
            at=now,
            score=score,
            reason_json=choice.reason.model_dump_json(),
        )
        if taken is not None:
            live.agents[choice.agent_id] = taken
        if taken is not None and not created:  # known after all (a race on the same ticket): undo the count
            await repository.add_load(session, choice.agent_id, -1)
            return False
        if created:
            uow.emit(
                _assigned_data(
                    org,
                    ticket_id=data.ticket_id,
                    department=department,
                    agent_id=choice.agent_id,
                    at=now,
                    choice=choice,
                )
            )
            return True
        # Another transaction took the agent's last slot (or it just went away): decide again.
        live.agents.update(await repository.agent_states(session, ids))
    queued = domain.choose_agent([], strategy=department.strategy, score=score)
    return await _queue_new(uow, facts, department=department, score=score, choice=queued)


async def _queue_new(
    uow: RoutingUnit, facts: TicketFacts, *, department: DepartmentConfig, score: float, choice: Choice
) -> bool:
    now = uow.now()
    created = await repository.insert_queued(
        uow.session,
        facts,
        department_id=department.id,
        at=now,
        score=score,
        rank=domain.queue_rank(score, now),
        reason=choice.reason.model_dump(mode="json"),
    )
    if created:
        uow.emit(
            TicketQueuedData(
                ticket_id=facts.ticket_id,
                department_id=department.id,
                department_name=department.name,
                score=round(score, 3),
                queued_at=now,
                reason=choice.reason,
            )
        )
    return created


# --- Placing a ticket routing already holds ------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where `place` put a ticket: the agent, or None when it waits."""

    agent_id: str | None


async def place(
    uow: RoutingUnit,
    row: Assignment,
    org: OrgSnapshot,
    department: DepartmentConfig,
    *,
    preferred: Sequence[tuple[str, str]] = (),
    because: str | None = None,
    previous_agent_id: str | None = None,
    announce: Announce = "assigned",
) -> Placement:
    """Give a held ticket (locked `row`, no capacity counted for it) to the best eligible agent of
    `department`, or queue it there; record the decision and announce it. `previous_agent_id` is
    the owner it leaves (announced as a reassignment when the new owner differs)."""
    session, settings, now = uow.session, uow.settings, uow.now()
    keep_waiting = row.state == State.QUEUED and row.department_id == department.id
    waited = domain.waited(row.queued_at, now) if row.state == State.QUEUED else 0.0
    base = _base_score(row)
    score = base + domain.WAIT_POINTS_PER_MINUTE * waited / 60.0
    members = _member_ids(org, department)
    ids = [*members, *(p for p, _ in preferred if p in org.agents)]
    live = await repository.agent_states(session, ids)
    for _ in range(MAX_ATTEMPTS):
        candidates = _candidates(org, ids, live, settings.default_capacity)
        choice = domain.choose_agent(
            candidates,
            strategy=department.strategy,
            required_skills=row.required_skills or (),
            preferred=preferred,
            score=score,
            waited_seconds=waited,
            because=because,
        )
        if choice.agent_id is None:
            await _to_queue(uow, row, department, choice=choice, score=base, keep_waiting=keep_waiting)
            return Placement(agent_id=None)
        capacity = org.capacity_of(org.agents[choice.agent_id], settings.default_capacity)
        if await repository.take(session, choice.agent_id, capacity=capacity) is None:
            live = await repository.agent_states(session, ids)
            continue
        if row.decision is not None:
            await repository.supersede(session, row.ticket_id)
        await repository.change(
            session,
            row.ticket_id,
            state=State.ASSIGNED.value,
            department_id=department.id,
            agent_id=choice.agent_id,
            assigned_at=now,
            closed_at=None,
            queue_rank=None,
            touched_at=None,
            decision=_announced(announce, previous_agent_id, choice.agent_id),
            reason=choice.reason.model_dump(mode="json"),
        )
        _emit_owner(
            uow,
            org,
            ticket_id=row.ticket_id,
            department=department,
            agent_id=choice.agent_id,
            choice=choice,
            announce=announce,
            previous_agent_id=previous_agent_id,
        )
        return Placement(agent_id=choice.agent_id)
    choice = domain.choose_agent([], strategy=department.strategy, score=score, because=because)
    await _to_queue(uow, row, department, choice=choice, score=base, keep_waiting=keep_waiting)
    return Placement(agent_id=None)


def _announced(announce: Announce, previous_agent_id: str | None, agent_id: str) -> str:
    return "reassigned" if announce == "reassigned" and previous_agent_id not in (None, agent_id) else "assigned"


def _emit_owner(
    uow: RoutingUnit,
    org: OrgSnapshot,
    *,
    ticket_id: uuid.UUID,
    department: DepartmentConfig,
    agent_id: str,
    choice: Choice,
    announce: Announce,
    previous_agent_id: str | None,
) -> None:
    """`ticket.reassigned` when the ticket leaves an owner for another, else `ticket.assigned`."""
    now = uow.now()
    data = _assigned_data(org, ticket_id=ticket_id, department=department, agent_id=agent_id, at=now, choice=choice)
    if _announced(announce, previous_agent_id, agent_id) == "reassigned":
        uow.emit(TicketReassignedData(**data.model_dump(), previous_agent_id=previous_agent_id))
    else:
        uow.emit(data)


def _base_score(row: Assignment, *, urgency: str | None = None, boost: float | None = None) -> float:
    """A held ticket's score without its waiting term, from what routing keeps about it (with a
    new urgency or boost about to be stored)."""
    return domain.priority_score(
        urgency=urgency or row.urgency or "normal",
        segment=row.segment or Segment.POTENTIAL.value,
        channel=row.channel or "",
        boost=boost if boost is not None else row.boost or 0.0,
    )


async def _to_queue(
    uow: RoutingUnit, row: Assignment, department: DepartmentConfig, *, choice: Choice, score: float, keep_waiting: bool
) -> None:
    """Queue a held ticket in `department` (a ticket already waiting there keeps its place in
    time and is not announced again)."""
    now = uow.now()
    queued_at = row.queued_at if row.state == State.QUEUED and row.queued_at is not None else now
    if keep_waiting:
        await repository.change(uow.session, row.ticket_id, score=score, queue_rank=domain.queue_rank(score, queued_at))
        return
    if row.decision is not None:
        await repository.supersede(uow.session, row.ticket_id)
    await repository.change(
        uow.session,
        row.ticket_id,
        state=State.QUEUED.value,
        department_id=department.id,
        agent_id=None,
        closed_at=None,
        queued_at=queued_at,
        score=score,
        queue_rank=domain.queue_rank(score, queued_at),
        touched_at=None,
        decision=State.QUEUED.value,
        reason=choice.reason.model_dump(mode="json"),
    )
    uow.emit(
        TicketQueuedData(
            ticket_id=row.ticket_id,
            department_id=department.id,
            department_name=department.name,
            score=round(score + domain.WAIT_POINTS_PER_MINUTE * domain.waited(queued_at, now) / 60.0, 3),
            queued_at=queued_at,
            reason=choice.reason,
        )
    )


# --- Queues --------------------------------------------------------------------------------


async def fill_queue(uow: RoutingUnit, *, department_id: str, org: OrgSnapshot | None = None) -> int:
    """Give a department's waiting tickets to its agents with room, highest score first (a ticket
    nobody eligible can take, e.g. for want of a skill, is passed over, not a block); how many."""
    session, settings, now = uow.session, uow.settings, uow.now()
    org = org or await _organisation(uow)
    department = org.departments.get(department_id)
    if department is None:
        return 0
    rows = await repository.queued_head(session, department_id, limit=QUEUE_PASS)
    if not rows:
        return 0
    managers = await repository.account_managers_for(
        session, [r.customer_id for r in rows if r.customer_id and r.segment == Segment.HIGH_VALUE]
    )
    members = _member_ids(org, department)
    ids = [*members, *(m for m in managers.values() if m in org.agents)]
    live = await repository.agent_states(session, ids)
    given = 0
    for row in rows:
        candidates = _candidates(org, ids, live, settings.default_capacity)
        if not any(domain.why_not(c, required_skills=None) is None for c in candidates):
            break  # nobody has room: the rest of the queue waits too
        manager = managers.get(row.customer_id or "")
        preferred = [(manager, domain.RULE_ACCOUNT_MANAGER)] if manager is not None and manager in org.agents else []
        waited = domain.waited(row.queued_at, now)
        base = row.score if row.score is not None else _base_score(row)
        choice = domain.choose_agent(
            [c for c in candidates if c.agent.department_id == department.id or c.agent.id == manager],
            strategy=department.strategy,
            required_skills=row.required_skills or (),
            preferred=preferred,
            score=base + domain.WAIT_POINTS_PER_MINUTE * waited / 60.0,
            waited_seconds=waited,
        )
        if choice.agent_id is None:
            continue
        taken = await repository.take(
            session, choice.agent_id, capacity=org.capacity_of(org.agents[choice.agent_id], settings.default_capacity)
        )
        if taken is None:  # changed under us: read again, try the next ticket with the fresh state
            live = await repository.agent_states(session, ids)
            continue
        live[choice.agent_id] = taken
        await repository.supersede(session, row.ticket_id)
        await repository.change(
            session,
            row.ticket_id,
            state=State.ASSIGNED.value,
            agent_id=choice.agent_id,
            assigned_at=now,
            queue_rank=None,
            touched_at=None,
            decision="assigned",
            reason=choice.reason.model_dump(mode="json"),
        )
        uow.emit(
            _assigned_data(
                org, ticket_id=row.ticket_id, department=department, agent_id=choice.agent_id, at=now, choice=choice
            )
        )
        given += 1
    return given


async def fill_queues(uow: RoutingUnit) -> int:
    """Fill every department's queue that has waiting tickets; tickets waiting in a department
    that no longer exists move to the one owning their category. Each department is filled in
    its own savepoint: one that fails is logged and skipped."""
    waiting = await repository.queue_sizes(uow.session)
    if not waiting:
        return 0
    org = await _organisation(uow)
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


# --- Events about tickets routing holds ----------------------------------------------------


async def release(uow: RoutingUnit, *, ticket_id: uuid.UUID, at: datetime) -> None:
    """A resolved (or closed) ticket no longer counts towards its owner's load, leaves any queue,
    and its owner's room goes to the department's best waiting ticket; an unseen ticket is
    remembered as finished."""
    session = uow.session
    row = await repository.get(session, ticket_id, for_update=True)
    if row is None:
        await repository.remember_closed(session, ticket_id, at=at)
        return
    if row.state == State.CLOSED:
        return
    freed = row.agent_id if row.state == State.ASSIGNED else None
    await repository.change(session, ticket_id, state=State.CLOSED.value, closed_at=at, queue_rank=None)
    if freed is None:
        return
    await repository.add_load(session, freed, -1)
    await _refill_for(uow, freed)


async def _refill_for(uow: RoutingUnit, agent_id: str, *, org: OrgSnapshot | None = None) -> None:
    """The agent has room (or is back): its department's queue may move."""
    org = org or await _organisation(uow)
    agent = org.agents.get(agent_id)
    if agent is not None:
        await fill_queue(uow, department_id=agent.department_id, org=org)


async def touch(uow: RoutingUnit, *, ticket_id: uuid.UUID, agent_id: str, at: datetime) -> None:
    """The owner worked on the ticket (reply, update, plan): the away sweep leaves it with them."""
    await repository.touch(uow.session, ticket_id, agent_id=agent_id, at=at)


async def reopen(uow: RoutingUnit, *, data: TicketReopenedData) -> None:
    """A reopened ticket goes back to its previous owner if available and below capacity, else by
    the department's rule or to its queue (resolving already freed the owner's room)."""
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None:
        log.info("reopened ticket routing never saw; ignored", extra={"ticket_id": str(data.ticket_id)})
        return
    if row.state != State.CLOSED:
        return  # already open again (a redelivery, or a reopen overtaking a resolve)
    if row.ticket_number is None:  # resolved before routing saw it: learn what the event says
        await repository.change(
            session,
            row.ticket_id,
            ticket_number=data.number,
            category=data.category,
            channel=data.channel,
            urgency=data.urgency,
            customer_id=data.customer_id,
            segment=row.segment or Segment.POTENTIAL.value,
        )
        row = await repository.get(session, data.ticket_id, for_update=True)
        assert row is not None
    org = await _organisation(uow)
    department = org.department_for(row.category or data.category)
    if department is None:
        raise PermanentEventError("no organisation is configured: no department owns any category")
    previous = row.agent_id
    preferred: list[tuple[str, str]] = [(previous, domain.RULE_PREVIOUS_OWNER)] if previous else []
    if row.segment == Segment.HIGH_VALUE and row.customer_id:
        manager = (await repository.account_managers_for(session, [row.customer_id])).get(row.customer_id)
        if manager:
            preferred.append((manager, domain.RULE_ACCOUNT_MANAGER))
    await place(uow, row, org, department, preferred=preferred, previous_agent_id=previous, announce="reassigned")


async def reprioritise(uow: RoutingUnit, *, data: TicketPriorityChangedData) -> None:
    """Keep the ticket's new urgency; a waiting ticket is re-scored (its place in time kept)."""
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or _stale(row, data.changed_at):
        return
    await repository.change(session, row.ticket_id, urgency=data.urgency, revised_at=data.changed_at)
    if row.state == State.QUEUED and row.queued_at is not None:
        score = _base_score(row, urgency=data.urgency)
        await repository.change(session, row.ticket_id, score=score, queue_rank=domain.queue_rank(score, row.queued_at))


def _stale(row: Assignment, changed_at: datetime) -> bool:
    """An older change redelivered after a newer one was applied."""
    return row.revised_at is not None and changed_at < row.revised_at


async def recategorise(uow: RoutingUnit, *, data: TicketRecategorisedData) -> None:
    """Keep the ticket's new category; if another department owns it now, move the ticket there:
    to one of its agents (announced as a reassignment when it had an owner) or its queue."""
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or _stale(row, data.changed_at):
        return
    await repository.change(session, row.ticket_id, category=data.category, revised_at=data.changed_at)
    if row.state == State.CLOSED:
        return
    org = await _organisation(uow)
    department = org.department_for(data.category)
    if department is None or department.id == row.department_id:
        return
    because = (
        f"recategorised: {data.previous_category} → {data.category} moved the ticket from "
        f"{row.department_id} to {department.id}"
    )
    previous = row.agent_id if row.state == State.ASSIGNED else None
    if previous is not None:
        await repository.add_load(session, previous, -1)
    await place(uow, row, org, department, because=because, previous_agent_id=previous, announce="reassigned")
    if previous is not None:
        await _refill_for(uow, previous, org=org)


async def on_breach(uow: RoutingUnit, *, data: SlaBreachedData) -> None:
    """A missed SLA deadline moves a waiting ticket up its queue."""
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or row.state != State.QUEUED:
        return
    boost = (row.boost or 0.0) + domain.SLA_BREACH_POINTS
    score = _base_score(row, boost=boost)
    await repository.change(
        session,
        row.ticket_id,
        boost=boost,
        score=score,
        queue_rank=domain.queue_rank(score, row.queued_at or uow.now()),
    )


async def on_escalation(uow: RoutingUnit, *, data: SlaEscalatedData) -> None:
    """A supervisor step of the SLA policy's escalation chain: an owned ticket goes to its
    department's supervisor (`ticket.reassigned`, the rule in its reason), or is logged when the
    department has none. Assignee and group steps are for their subscribers to act on."""
    if data.notify is not EscalationTarget.SUPERVISOR:
        return
    session = uow.session
    row = await repository.get(session, data.ticket_id, for_update=True)
    if row is None or row.state != State.ASSIGNED:
        return
    org = await _organisation(uow)
    department = org.departments.get(row.department_id or "") or org.department_for(row.category or "")
    if department is None:
        return
    supervisor = department.supervisor
    if supervisor is None:
        log.info(
            "SLA breached on an assigned ticket; its department has no supervisor to escalate to",
            extra={"ticket_id": str(row.ticket_id), "department": department.id, "clock": data.clock.value},
        )
        return
    previous = row.agent_id
    if previous == supervisor:
        return
    now = uow.now()
    live = await repository.agent_states(session, [a for a in (previous,) if a])
    prior = _candidates(org, [previous], live, uow.settings.default_capacity) if previous else []
    reason = domain.escalation_reason(
        supervisor=supervisor,
        clock=data.clock.value,
        strategy=department.strategy,
        score=_base_score(row),
        previous=prior[0] if prior else None,
    )
    if previous is not None:
        await repository.add_load(session, previous, -1)
    await repository.add_load(session, supervisor, 1)
    await repository.supersede(session, row.ticket_id)
    await repository.change(
        session,
        row.ticket_id,
        agent_id=supervisor,
        assigned_at=now,
        touched_at=None,
        decision="reassigned",
        reason=reason.model_dump(mode="json"),
    )
    uow.emit(
        TicketReassignedData(
            ticket_id=row.ticket_id,
            department_id=department.id,
            department_name=department.name,
            agent_id=supervisor,
            agent_name=org.name_of(supervisor),
            assigned_at=now,
            reason=reason,
            previous_agent_id=previous,
        )
    )
    if previous is not None:
        await _refill_for(uow, previous, org=org)


# --- Presence ------------------------------------------------------------------------------


async def presence_changed(uow: RoutingUnit, *, agent: AgentConfig, presence: Presence) -> None:
    """An agent available again takes its department's best waiting tickets."""
    if presence is Presence.AVAILABLE:
        await _refill_for(uow, agent.id)


async def reassign_from_absent(uow: RoutingUnit, *, limit: int = 200) -> tuple[int, bool]:
    """Move the untouched tickets of agents away (or offline) for longer than
    `away_reassign_minutes` to someone available in the ticket's department, or to its queue.
    Each ticket is moved in its own savepoint: one that fails is logged and skipped. Returns how
    many moved and whether the batch was full (more may be due)."""
    session, now = uow.session, uow.now()
    grace = timedelta(minutes=uow.settings.away_reassign_minutes)
    rows = await repository.untouched_of_absent(session, cutoff=now - grace, limit=limit)
    if not rows:
        return 0, False
    org = await _organisation(uow)
    moved = 0
    for row in rows:
        ticket_id, previous = row.ticket_id, row.agent_id  # readable even after a rolled-back savepoint
        department = org.department_for(row.category or "") or org.departments.get(row.department_id or "")
        if department is None or previous is None:
            continue
        async with uow.isolated("away reassignment of a ticket", ticket_id=ticket_id) as item:
            live = await repository.agent_states(session, [previous])
            presence = live[previous].presence if previous in live else "away"
            because = (
                f"away_reassign: {previous} has been {presence} for over "
                f"{uow.settings.away_reassign_minutes:g} minutes and had not touched the ticket"
            )
            await repository.add_load(session, previous, -1)
            await place(uow, row, org, department, because=because, previous_agent_id=previous, announce="reassigned")
        if not item.failed:
            moved += 1
    return moved, len(rows) >= limit


async def next_away_reassignment(session: AsyncSession, *, grace: timedelta) -> datetime | None:
    """When the next untouched ticket of an away (or offline) agent falls due for reassignment:
    the agent's away-since plus the grace."""
    since = await repository.earliest_absence_with_untouched(session)
    return None if since is None else since + grace
