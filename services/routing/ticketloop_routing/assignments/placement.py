"""How routing gives out one ticket: choose an agent with `domain.choose_agent`, take a slot of
its capacity (a conditional UPDATE, so replicas never exceed a capacity), choose again on fresh
state when another transaction took the slot first, and queue the ticket when nobody can take it.

`settle` is that loop, written once; a `Seat` says how the decision is written down — for a new
ticket (`NewTicket`: take and insert in one statement) or one routing already holds
(`HeldTicket`: take, then update the locked row). Private to the feature: other features reach
assignments through `service.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from ticketloop_routing.assignments import domain, repository
from ticketloop_routing.assignments.domain import Candidate, Choice, State
from ticketloop_routing.assignments.models import Assignment
from ticketloop_routing.assignments.repository import AgentLive, TicketFacts
from ticketloop_routing.organisation import service as organisation
from ticketloop_routing.organisation.domain import DepartmentConfig, OrgSnapshot, Presence
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events import TicketAssignedData, TicketQueuedData, TicketReassignedData
from ticketloop_shared.vocabulary import Segment

Announce = Literal["assigned", "reassigned"]
# Races lost to another replica (an agent's last slot taken meanwhile) before a ticket is queued.
MAX_ATTEMPTS = 5
NO_ORGANISATION = "no organisation is configured: no department owns any category"


async def organisation_of(uow: RoutingUnit) -> OrgSnapshot:
    """The current organisation; an event cannot be routed without one."""
    org = await organisation.snapshot(uow.session, uow.state)
    if org is None:
        raise PermanentEventError(NO_ORGANISATION)
    return org


def department_for(org: OrgSnapshot, category: str) -> DepartmentConfig:
    """The department owning `category`; an event cannot be routed without one."""
    department = org.department_for(category)
    if department is None:
        raise PermanentEventError(NO_ORGANISATION)
    return department


def candidates(
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


def member_ids(org: OrgSnapshot, department: DepartmentConfig) -> list[str]:
    """The department's agents, in configuration order."""
    return [a.id for a in org.members.get(department.id, ())]


def manager_first(org: OrgSnapshot, manager: str | None) -> list[tuple[str, str]]:
    """The customer's account manager as the preferred agent, when they are still configured."""
    return [(manager, domain.RULE_ACCOUNT_MANAGER)] if manager is not None and manager in org.agents else []


def base_score(row: Assignment, *, urgency: str | None = None, boost: float | None = None) -> float:
    """A held ticket's score without its waiting term, from what routing keeps about it (with a
    new urgency or boost about to be stored)."""
    return domain.priority_score(
        urgency=urgency or row.urgency or "normal",
        segment=row.segment or Segment.POTENTIAL.value,
        channel=row.channel or "",
        boost=boost if boost is not None else row.boost or 0.0,
    )


def assigned_data(
    org: OrgSnapshot, *, ticket_id: uuid.UUID, department: DepartmentConfig, agent_id: str, at: datetime, choice: Choice
) -> TicketAssignedData:
    """`ticket.assigned` for the chosen agent, with the decision's reason."""
    return TicketAssignedData(
        ticket_id=ticket_id,
        department_id=department.id,
        department_name=department.name,
        agent_id=agent_id,
        agent_name=org.name_of(agent_id),
        assigned_at=at,
        reason=choice.reason,
    )


# --- The one choose / retry / queue loop ---------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """What one placement asks of `domain.choose_agent`, all but the candidates."""

    department: DepartmentConfig
    score: float
    required_skills: Sequence[str] = ()
    preferred: Sequence[tuple[str, str]] = ()
    waited_seconds: float = 0.0
    because: str | None = None


class Seat(Protocol):
    """How a decision about one ticket is written down and announced."""

    async def assign(self, choice: Choice, *, capacity: int | None) -> AgentLive | None:
        """Give the ticket to `choice.agent_id` if it still has a free slot (its state after
        taking it); None, with nothing written, when another transaction took the slot first."""
        ...

    async def queue(self, choice: Choice) -> None:
        """Nobody can take the ticket: it waits in the department's queue (`choice` says why)."""
        ...


async def settle(
    uow: RoutingUnit, org: OrgSnapshot, ask: Ask, seat: Seat, *, ids: Sequence[str], live: dict[str, AgentLive]
) -> Choice:
    """Choose an agent among `ids` and give them the ticket; on a race lost to another transaction,
    read the agents again and choose again (at most `MAX_ATTEMPTS` times), then queue the ticket;
    queue it at once when nobody is eligible. `live` is kept up to date for the next ticket."""
    default = uow.settings.default_capacity
    for _ in range(MAX_ATTEMPTS):
        choice = domain.choose_agent(
            candidates(org, ids, live, default),
            strategy=ask.department.strategy,
            required_skills=ask.required_skills,
            preferred=ask.preferred,
            score=ask.score,
            waited_seconds=ask.waited_seconds,
            because=ask.because,
        )
        if choice.agent_id is None:
            await seat.queue(choice)
            return choice
        taken = await seat.assign(choice, capacity=org.capacity_of(org.agents[choice.agent_id], default))
        if taken is not None:
            live[choice.agent_id] = taken
            return choice
        live.update(await repository.agent_states(uow.session, ids))
    choice = domain.choose_agent([], strategy=ask.department.strategy, score=ask.score, because=ask.because)
    await seat.queue(choice)
    return choice


# --- A new ticket ----------------------------------------------------------------------------


@dataclass
class NewTicket:
    """A ticket routing has not seen: assigned or queued by an insert, announced only when the
    insert wrote it (`decided`); a ticket another transaction inserted meanwhile is left alone."""

    uow: RoutingUnit
    org: OrgSnapshot
    facts: TicketFacts
    department: DepartmentConfig
    score: float
    decided: bool = field(default=False)

    async def assign(self, choice: Choice, *, capacity: int | None) -> AgentLive | None:
        """Take the agent's slot and insert the assignment in one statement."""
        assert choice.agent_id is not None
        now = self.uow.now()
        taken, created = await repository.insert_assigned(
            self.uow.session,
            self.facts,
            department_id=self.department.id,
            agent_id=choice.agent_id,
            capacity=capacity,
            at=now,
            score=self.score,
            reason_json=choice.reason.model_dump_json(),
        )
        if taken is not None and not created:  # known after all (a race on the same ticket): undo the count
            await repository.add_load(self.uow.session, choice.agent_id, -1)
        if created:
            self.decided = True
            self.uow.emit(
                assigned_data(
                    self.org,
                    ticket_id=self.facts.ticket_id,
                    department=self.department,
                    agent_id=choice.agent_id,
                    at=now,
                    choice=choice,
                )
            )
        return taken

    async def queue(self, choice: Choice) -> None:
        """Insert the ticket in its department's queue."""
        now = self.uow.now()
        self.decided = await repository.insert_queued(
            self.uow.session,
            self.facts,
            department_id=self.department.id,
            at=now,
            score=self.score,
            rank=domain.queue_rank(self.score, now),
            reason=choice.reason.model_dump(mode="json"),
        )
        if self.decided:
            self.uow.emit(
                TicketQueuedData(
                    ticket_id=self.facts.ticket_id,
                    department_id=self.department.id,
                    department_name=self.department.name,
                    score=round(self.score, 3),
                    queued_at=now,
                    reason=choice.reason,
                )
            )


@dataclass
class Plan:
    """A run of new tickets decided in memory, to be written in one statement
    (`repository.insert_run`): each ticket's decision, and the slots each chosen agent takes."""

    decided: list[repository.Decided] = field(default_factory=list)
    # What each decision announces once written, in the run's order.
    announced: list[TicketAssignedData | TicketQueuedData] = field(default_factory=list)
    # Per chosen agent: how many tickets and its capacity (kept in the order of its last ticket).
    slots: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    turn: int = 0

    def takes(self) -> list[tuple[str, int, int | None]]:
        """The slots to take, the agent whose last ticket came last drawing the last turn."""
        return [(agent_id, n, capacity) for agent_id, (n, capacity) in self.slots.items()]


@dataclass
class PlannedTicket:
    """A new ticket decided in memory: `settle` sees the agent's slot taken (its load and turn
    moved on, as the database will have them), and the decision joins the run's `Plan`."""

    uow: RoutingUnit
    org: OrgSnapshot
    plan: Plan
    facts: TicketFacts
    department: DepartmentConfig
    score: float
    live: dict[str, AgentLive]

    async def assign(self, choice: Choice, *, capacity: int | None) -> AgentLive | None:
        """Count the slot in the plan; the agent's state as it will be after the run."""
        assert choice.agent_id is not None
        now = self.uow.now()
        self.plan.decided.append(
            repository.Decided(
                facts=self.facts,
                department_id=self.department.id,
                agent_id=choice.agent_id,
                at=now,
                score=self.score,
                rank=None,
                reason_json=choice.reason.model_dump_json(),
            )
        )
        self.plan.announced.append(
            assigned_data(
                self.org,
                ticket_id=self.facts.ticket_id,
                department=self.department,
                agent_id=choice.agent_id,
                at=now,
                choice=choice,
            )
        )
        n, _ = self.plan.slots.pop(choice.agent_id, (0, capacity))
        self.plan.slots[choice.agent_id] = (n + 1, capacity)
        # Turns drawn from the sequence are above every turn stored: one above all known keeps
        # the round-robin order the database will show.
        self.plan.turn = max([self.plan.turn, *(a.last_turn or 0 for a in self.live.values())]) + 1
        state = self.live.get(choice.agent_id)
        return AgentLive(
            open_tickets=(state.open_tickets if state else 0) + 1,
            presence=state.presence if state else Presence.AVAILABLE.value,
            last_turn=self.plan.turn,
        )

    async def queue(self, choice: Choice) -> None:
        """The ticket joins its department's queue in the plan."""
        now = self.uow.now()
        self.plan.decided.append(
            repository.Decided(
                facts=self.facts,
                department_id=self.department.id,
                agent_id=None,
                at=now,
                score=self.score,
                rank=domain.queue_rank(self.score, now),
                reason_json=choice.reason.model_dump_json(),
            )
        )
        self.plan.announced.append(
            TicketQueuedData(
                ticket_id=self.facts.ticket_id,
                department_id=self.department.id,
                department_name=self.department.name,
                score=round(self.score, 3),
                queued_at=now,
                reason=choice.reason,
            )
        )


# --- A ticket routing holds ------------------------------------------------------------------


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
    act: Stamp | None = None,
) -> Placement:
    """Give a held ticket (locked `row`, no capacity counted for it) to the best eligible agent of
    `department`, or queue it there; record the decision and announce it. `previous_agent_id` is
    the owner it leaves (announced as a reassignment when the new owner differs); `act` is the
    person's act that set the placement off (a transfer), recorded in the reason."""
    waited = domain.waited(row.queued_at, uow.now()) if row.state == State.QUEUED else 0.0
    base = base_score(row)
    ids = [*member_ids(org, department), *(p for p, _ in preferred if p in org.agents)]
    ask = Ask(
        department=department,
        score=base + domain.WAIT_POINTS_PER_MINUTE * waited / 60.0,
        required_skills=row.required_skills or (),
        preferred=preferred,
        waited_seconds=waited,
        because=because,
    )
    seat: Seat = HeldTicket(
        uow, org, row, department, base=base, announce=announce, previous_agent_id=previous_agent_id
    )
    if act is not None:
        seat = Stamped(seat, act)
    live = await repository.agent_states(uow.session, ids)
    choice = await settle(uow, org, ask, seat, ids=ids, live=live)
    return Placement(agent_id=choice.agent_id)


@dataclass(frozen=True)
class Stamp:
    """A person's act recorded in a decision's reason: its rule, who acted, their note."""

    rule: str
    actor: str
    note: str | None = None

    def on(self, choice: Choice) -> Choice:
        """`choice` with the act as its rule (the candidates routing weighed are kept)."""
        reason = choice.reason.model_copy(update={"rule": self.rule, "actor": self.actor, "note": self.note})
        return Choice(agent_id=choice.agent_id, reason=reason)


@dataclass(frozen=True)
class Stamped:
    """A seat whose decisions a person's act set off: each is recorded and announced with the
    act in its reason, whatever `settle` chose (an agent, or the queue)."""

    seat: Seat
    act: Stamp

    async def assign(self, choice: Choice, *, capacity: int | None) -> AgentLive | None:
        """The seat's assignment, with the act's reason."""
        return await self.seat.assign(self.act.on(choice), capacity=capacity)

    async def queue(self, choice: Choice) -> None:
        """The seat's queueing, with the act's reason."""
        await self.seat.queue(self.act.on(choice))


@dataclass(frozen=True)
class HeldTicket:
    """A ticket routing holds (its row locked): the agent's slot is taken first, then the row
    changed; a ticket already waiting in the department keeps its place in time."""

    uow: RoutingUnit
    org: OrgSnapshot
    row: Assignment
    department: DepartmentConfig
    base: float
    announce: Announce = "assigned"
    previous_agent_id: str | None = None

    async def assign(self, choice: Choice, *, capacity: int | None) -> AgentLive | None:
        """Take a slot of the agent's capacity, then record and announce the new owner."""
        assert choice.agent_id is not None
        taken = await repository.take(self.uow.session, choice.agent_id, capacity=capacity)
        if taken is not None:
            await give_held(
                self.uow,
                self.org,
                self.row,
                self.department,
                choice=choice,
                announce=self.announce,
                previous_agent_id=self.previous_agent_id,
            )
        return taken

    async def queue(self, choice: Choice) -> None:
        """Queue the ticket in the department (or keep it waiting there, re-scored)."""
        await to_queue(self.uow, self.row, self.department, choice=choice, score=self.base)


async def give_held(
    uow: RoutingUnit,
    org: OrgSnapshot,
    row: Assignment,
    department: DepartmentConfig,
    *,
    choice: Choice,
    announce: Announce = "assigned",
    previous_agent_id: str | None = None,
) -> None:
    """Record a held ticket's new owner (its slot already taken) and announce it: `ticket.reassigned`
    when it leaves an owner for another, else `ticket.assigned`."""
    assert choice.agent_id is not None
    now = uow.now()
    decision = announced(announce, previous_agent_id, choice.agent_id)
    if row.decision is not None:
        await repository.supersede(uow.session, row.ticket_id)
    await repository.change(
        uow.session,
        row.ticket_id,
        state=State.ASSIGNED.value,
        department_id=department.id,
        agent_id=choice.agent_id,
        assigned_at=now,
        closed_at=None,
        queue_rank=None,
        touched_at=None,
        decision=decision,
        reason=choice.reason.model_dump(mode="json"),
    )
    data = assigned_data(
        org, ticket_id=row.ticket_id, department=department, agent_id=choice.agent_id, at=now, choice=choice
    )
    if decision == "reassigned":
        uow.emit(TicketReassignedData(**data.model_dump(), previous_agent_id=previous_agent_id))
    else:
        uow.emit(data)


def announced(announce: Announce, previous_agent_id: str | None, agent_id: str) -> Announce:
    """ "reassigned" only when asked to and the ticket really changes owner."""
    return "reassigned" if announce == "reassigned" and previous_agent_id not in (None, agent_id) else "assigned"


async def to_queue(
    uow: RoutingUnit, row: Assignment, department: DepartmentConfig, *, choice: Choice, score: float
) -> None:
    """Queue a held ticket in `department` (a ticket already waiting there keeps its place in
    time and is not announced again)."""
    now = uow.now()
    queued_at = row.queued_at if row.state == State.QUEUED and row.queued_at is not None else now
    if row.state == State.QUEUED and row.department_id == department.id:
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
