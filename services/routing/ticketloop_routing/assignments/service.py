"""Routing's service layer, the feature's one public face: feeds the rules in `domain.py` with
live state, applies what they decide and announces it (`ticket.assigned`, `ticket.reassigned`,
`ticket.queued`), each decision stored with its reason.

A ticket goes to the department owning its category; there, to the customer's account manager
(high-value customers), else by the department's strategy among its available agents below
capacity; when nobody can take it, it waits in the department's queue, highest score first, and
is given out the moment capacity frees (a ticket resolved or closed, an agent available again,
the organisation changed, and a sweep every few seconds as a safety net).

Where the rest lives: the one choose / retry / queue loop in `placement.py`, the queues in
`queue.py`, the reactions to what happens to a held ticket (reopen, re-prioritise, recategorise,
SLA breach and escalation, agents away) in `reactions.py`, what staff do to a ticket (take,
assign, transfer) and who may read it in `actions.py`; this module is what other features
and the handlers call.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.actions import assign, held, take, transfer
from ticketloop_routing.assignments.domain import State
from ticketloop_routing.assignments.placement import (
    Ask,
    NewTicket,
    Plan,
    PlannedTicket,
    department_for,
    manager_first,
    member_ids,
    organisation_of,
    settle,
)
from ticketloop_routing.assignments.queue import fill_queue, fill_queues, refill_for
from ticketloop_routing.assignments.reactions import (
    next_away_reassignment,
    on_breach,
    on_escalation,
    on_sla_events,
    reassign_from_absent,
    recategorise,
    reopen,
    replay_parked,
    replay_parked_of_known,
    reprioritise,
)
from ticketloop_routing.assignments.repository import LiveState, TicketFacts
from ticketloop_routing.customers.domain import segment_of
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.domain import AgentConfig, DepartmentConfig, OrgSnapshot, Presence
from ticketloop_routing.organisation.schemas import Organisation
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.auth import Principal
from ticketloop_shared.events import Envelope, TicketCreatedData
from ticketloop_shared.vocabulary import Segment

# Times the organisation may change under one run's read before the run fails (and is retried).
MAX_READS = 5

__all__ = [
    "assign",
    "assign_many",
    "fill_queue",
    "fill_queues",
    "held",
    "next_away_reassignment",
    "on_breach",
    "on_escalation",
    "on_sla_events",
    "presence_changed",
    "reassign_from_absent",
    "recategorise",
    "release",
    "reopen",
    "replace_organisation",
    "replay_parked_of_known",
    "reprioritise",
    "set_presence",
    "take",
    "touch",
    "transfer",
]


# --- A new ticket (the hot path) -----------------------------------------------------------


async def assign_many(uow: RoutingUnit, tickets: Sequence[tuple[TicketCreatedData, Envelope | None]]) -> list[bool]:
    """Route a run of new tickets and announce each (assigned or queued, caused by its event);
    nothing for a ticket routing already knows (a redelivery, or one resolved before routing saw
    it). Returns, per ticket, whether routing decided about it.

    One statement for the whole run reads the organisation version (the organisation itself is
    cached in memory), which tickets are known, the account managers and the candidates' live
    state; the run is then decided in memory, each decision on the state the ones before it
    leave, and written in one statement (`repository.insert_run`: the chosen agents' slots, taken
    by a conditional UPDATE so replicas never exceed a capacity, and the assignments with their
    reasons). A ticket whose agent could not take its slots (another transaction took them
    meanwhile) is decided again, one at a time on fresh state. A run holding a ticket routing
    already knows or has parked events for (rare) is routed one ticket at a time."""
    org, live, departments = await _read_run(uow, tickets)
    ticket_ids = [data.ticket_id for data, _ in tickets]
    if (
        len(set(ticket_ids)) < len(ticket_ids)
        or live.known.intersection(ticket_ids)
        or live.parked.intersection(ticket_ids)
    ):
        return await _assign_one_by_one(uow, org, live, tickets, departments)
    plan = Plan()
    for (data, _), department in zip(tickets, departments, strict=True):
        facts, ask, ids = _ask(org, live, data, department)
        seat = PlannedTicket(uow, org, plan, facts, department, ask.score, live.agents)
        await settle(uow, org, ask, seat, ids=ids, live=live.agents)
    took, inserted = await repository.insert_run(uow.session, plan.decided, takes=plan.takes())
    decided: dict[uuid.UUID, bool] = {}
    undo: dict[str, int] = {}
    again: list[int] = []
    for i, (done, announced) in enumerate(zip(plan.decided, plan.announced, strict=True)):
        if done.agent_id is not None and done.agent_id not in took:
            again.append(i)
            continue
        if done.facts.ticket_id not in inserted:  # known after all (a race on the same ticket)
            if done.agent_id is not None:
                undo[done.agent_id] = undo.get(done.agent_id, 0) + 1
            decided[done.facts.ticket_id] = False
            continue
        decided[done.facts.ticket_id] = True
        cause = tickets[i][1]
        with uow.caused_by(cause) if cause is not None else nullcontext():
            uow.emit(announced)
    for agent_id, n in undo.items():
        await repository.add_load(uow.session, agent_id, -n)
    if again:
        retry = [tickets[i] for i in again]
        live.agents.update(
            await repository.agent_states(
                uow.session, sorted({a for i in again for a in member_ids(org, departments[i])})
            )
        )
        outcome = await _assign_one_by_one(uow, org, live, retry, [departments[i] for i in again])
        decided.update({data.ticket_id: d for (data, _), d in zip(retry, outcome, strict=True)})
    return [decided[data.ticket_id] for data, _ in tickets]


def _ask(
    org: OrgSnapshot, live: LiveState, data: TicketCreatedData, department: DepartmentConfig
) -> tuple[TicketFacts, Ask, list[str]]:
    """A new ticket's facts, what its placement asks and the agents it may go to."""
    segment = segment_of(live.segments.get(data.customer_id))
    facts = _facts(data, segment=segment)
    score = domain.priority_score(urgency=data.urgency, segment=segment, channel=data.channel)
    manager = live.account_managers.get(data.customer_id) if segment is Segment.HIGH_VALUE else None
    ask = Ask(department, score, data.required_skills, preferred=manager_first(org, manager))
    return facts, ask, [*member_ids(org, department), *(p for p, _ in ask.preferred)]


async def _assign_one_by_one(
    uow: RoutingUnit,
    org: OrgSnapshot,
    live: LiveState,
    tickets: Sequence[tuple[TicketCreatedData, Envelope | None]],
    departments: Sequence[DepartmentConfig],
) -> list[bool]:
    """Each ticket in its own statement, in order: a known one completed, parked events replayed
    in between (what they change, the next tickets see)."""
    decided: list[bool] = []
    for (data, cause), department in zip(tickets, departments, strict=True):
        facts, ask, ids = _ask(org, live, data, department)
        if data.ticket_id in live.known:
            await repository.fill_facts(uow.session, facts, score=ask.score)
            decided.append(False)
            if data.ticket_id in live.parked:  # routed meanwhile by a transaction that could not see them
                await replay_parked(uow, data.ticket_id)
            continue
        live.known.add(data.ticket_id)
        seat = NewTicket(uow, org, facts, department, ask.score)
        with uow.caused_by(cause) if cause is not None else nullcontext():
            await settle(uow, org, ask, seat, ids=ids, live=live.agents)
        decided.append(seat.decided)
        if data.ticket_id in live.parked:  # a reopen or change that overtook its creation
            await replay_parked(uow, data.ticket_id)
    return decided


async def _read_run(
    uow: RoutingUnit, tickets: Sequence[tuple[TicketCreatedData, Envelope | None]]
) -> tuple[OrgSnapshot, LiveState, list[DepartmentConfig]]:
    """The organisation, the run's live state and each ticket's department, read again while the
    organisation changed under the read (it is cached in memory, keyed by its version)."""
    org = organisation.cached(uow.state) or await organisation_of(uow)
    for _ in range(MAX_READS):
        departments = [department_for(org, data.category) for data, _ in tickets]
        live = await repository.live_state(
            uow.session,
            ticket_ids=[data.ticket_id for data, _ in tickets],
            agent_ids=sorted({a for d in departments for a in member_ids(org, d)}),
            customer_ids=sorted({data.customer_id for data, _ in tickets}),
        )
        if live.version == org.version:
            return org, live, departments
        org = await organisation_of(uow)
    raise RuntimeError("the organisation kept changing while routing read it")


def _facts(data: TicketCreatedData, *, segment: Segment) -> TicketFacts:
    return TicketFacts(
        ticket_id=data.ticket_id,
        ticket_number=data.number,
        category=data.category,
        channel=data.channel,
        urgency=data.urgency,
        customer_id=data.customer_id,
        segment=segment.value,
        required_skills=list(data.required_skills),
    )


# --- Capacity coming and going -------------------------------------------------------------


async def release(uow: RoutingUnit, *, ticket_id: uuid.UUID, at: datetime) -> None:
    """A resolved (or closed) ticket no longer counts towards its owner's load, leaves any queue,
    and its owner's room goes to the department's best waiting ticket; an unseen ticket is
    remembered as finished. A resolve older than a reopen already applied is stale (the reopen
    overtook it): the ticket stays open; `closed_at` is the newest resolve or close applied."""
    session = uow.session
    row = await repository.get(session, ticket_id, for_update=True)
    if row is None:
        await repository.remember_closed(session, ticket_id, at=at)
        return
    if row.lifecycle_at is not None and at < row.lifecycle_at:
        return
    if row.state == State.CLOSED:  # closed again later than it was: the newest close is kept
        await repository.change(session, ticket_id, closed_at=at, lifecycle_at=at)
        return
    freed = row.agent_id if row.state == State.ASSIGNED else None
    await repository.change(
        session, ticket_id, state=State.CLOSED.value, closed_at=at, lifecycle_at=at, queue_rank=None
    )
    if freed is None:
        return
    await repository.add_load(session, freed, -1)
    await refill_for(uow, freed)


async def touch(uow: RoutingUnit, *, ticket_id: uuid.UUID, agent_id: str, at: datetime) -> None:
    """The owner worked on the ticket (reply, update, plan): the away sweep leaves it with them.

    Order: a touch is a hint about the current assignment, not a fact to keep: one about a ticket
    routing does not know, not open, or owned by someone else is dropped, not parked (its owner
    could only act once routing had assigned the ticket, and a reopen starts untouched)."""
    await repository.touch(uow.session, ticket_id, agent_id=agent_id, at=at)


async def presence_changed(uow: RoutingUnit, *, agent: AgentConfig, presence: Presence) -> None:
    """An agent available again takes its department's best waiting tickets."""
    if presence is Presence.AVAILABLE:
        await refill_for(uow, agent.id)


async def set_presence(uow: RoutingUnit, *, agent_id: str, presence: Presence, by: Principal) -> None:
    """Record an agent's presence (organisation decides who may set it) and act on it: an agent
    available again takes its department's best waiting tickets (an away agent's untouched ones
    move on by the away timer)."""
    await organisation.set_presence(uow.session, agent_id=agent_id, presence=presence, by=by, at=uow.now())
    org = await organisation.snapshot(uow.session, uow.state)
    if org is not None and agent_id in org.agents:
        await presence_changed(uow, agent=org.agents[agent_id], presence=presence)


async def replace_organisation(uow: RoutingUnit, new: Organisation, *, if_match: str, by: Principal) -> None:
    """Replace the organisation (guarded and audited by organisation), then give waiting tickets to
    whoever the change made room for (more capacity, new agents)."""
    await organisation.replace_guarded(uow.session, new, if_match=if_match, by=by, at=uow.now())
    await fill_queues(uow)
