"""All SQL about assignments, agents' live state and the department queues."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, Uuid, any_, bindparam, case, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.assignments.models import AGENT_TURNS, AgentLoad, Assignment, AssignmentHistory, ParkedEvent

QUEUED, ASSIGNED, CLOSED = "queued", "assigned", "closed"


@dataclass(frozen=True)
class AgentLive:
    """An agent's live state as stored."""

    open_tickets: int
    presence: str
    last_turn: int | None


@dataclass
class LiveState:
    """What the hot path reads in one statement before deciding a run of new tickets: the
    organisation version, which of the tickets routing already knows, the customers' account
    managers and the agents' live state (kept up to date by the caller as it assigns)."""

    version: uuid.UUID | None
    known: set[uuid.UUID]
    account_managers: dict[str, str]
    agents: dict[str, AgentLive]
    # The run's customers' segments as retrospective announced them.
    segments: dict[str, str] = field(default_factory=dict)
    # The run's tickets with events parked until routing knew them (almost always none).
    parked: set[uuid.UUID] = field(default_factory=set)


# One round trip for a whole run of new tickets: the version of the organisation the caller's
# cache must match, which tickets are known (a redelivery, or a ticket resolved before routing
# saw it), the customers' announced segments and account managers and the candidates' live state.
_LIVE_STATE = text(
    """
WITH managers AS (
    SELECT m.customer_id, m.agent_id FROM account_managers m WHERE m.customer_id = ANY(:customer_ids)
)
SELECT 'agent' AS kind, l.agent_id AS id, NULL AS customer_id, l.open_tickets, l.presence, l.last_turn,
       NULL::uuid AS ticket_id
FROM agent_load l
WHERE l.agent_id = ANY(:agent_ids) OR l.agent_id IN (SELECT agent_id FROM managers)
UNION ALL
SELECT 'manager', agent_id, customer_id, NULL, NULL, NULL, NULL FROM managers
UNION ALL
SELECT 'segment', s.segment, s.customer_id, NULL, NULL, NULL, NULL
FROM customer_segments s WHERE s.customer_id = ANY(:customer_ids)
UNION ALL
SELECT 'known', NULL, NULL, NULL, NULL, NULL, a.ticket_id FROM assignments a WHERE a.ticket_id = ANY(:ticket_ids)
UNION ALL
SELECT 'parked', NULL, NULL, NULL, NULL, NULL, p.ticket_id
FROM parked_events p WHERE p.ticket_id = ANY(:ticket_ids)
UNION ALL
SELECT 'version', NULL, NULL, NULL, NULL, NULL, v.version FROM organisation_version v WHERE v.id = 1
"""
).bindparams(
    bindparam("agent_ids", type_=ARRAY(String)),
    bindparam("customer_ids", type_=ARRAY(String)),
    bindparam("ticket_ids", type_=ARRAY(Uuid)),
)


async def live_state(
    session: AsyncSession, *, ticket_ids: Sequence[uuid.UUID], agent_ids: Sequence[str], customer_ids: Sequence[str]
) -> LiveState:
    """The state the hot path decides on, read in one statement."""
    rows = (
        await session.execute(
            _LIVE_STATE,
            {"agent_ids": list(agent_ids), "customer_ids": list(customer_ids), "ticket_ids": list(ticket_ids)},
        )
    ).all()
    state = LiveState(version=None, known=set(), account_managers={}, agents={})
    for row in rows:
        if row.kind == "agent":
            state.agents[row.id] = AgentLive(
                open_tickets=row.open_tickets, presence=row.presence, last_turn=row.last_turn
            )
        elif row.kind == "manager":
            state.account_managers[row.customer_id] = row.id
        elif row.kind == "segment":
            state.segments[row.customer_id] = row.id
        elif row.kind == "known":
            state.known.add(row.ticket_id)
        elif row.kind == "parked":
            state.parked.add(row.ticket_id)
        else:
            state.version = row.ticket_id
    return state


# Take one unit of the agent's capacity and record the assignment, in one round trip. The
# conditional UPDATE is the capacity guard: PostgreSQL re-checks its WHERE on the latest row
# version when another transaction changed the row first, so no race exceeds a capacity.
_TAKE_AND_INSERT = text(
    """
WITH took AS (
    UPDATE agent_load SET open_tickets = open_tickets + 1, last_turn = nextval('agent_turns')
    WHERE agent_id = :agent_id AND presence = 'available'
      AND (CAST(:capacity AS integer) IS NULL OR open_tickets < CAST(:capacity AS integer))
    RETURNING agent_id, open_tickets, presence, last_turn
), ins AS (
    INSERT INTO assignments (
        ticket_id, ticket_number, category, department_id, agent_id, assigned_at, state, decision,
        channel, urgency, customer_id, segment, required_skills, score, boost, reason
    )
    SELECT :ticket_id, :ticket_number, :category, :department_id, took.agent_id, :at, 'assigned', 'assigned',
           :channel, :urgency, :customer_id, :segment, CAST(:required_skills AS varchar[]), :score, 0,
           CAST(:reason AS jsonb)
    FROM took
    ON CONFLICT DO NOTHING
    RETURNING ticket_id
)
SELECT took.open_tickets, took.presence, took.last_turn, (SELECT count(*) FROM ins) AS created
FROM (SELECT 1) AS one LEFT JOIN took ON true
"""
)


@dataclass(frozen=True)
class TicketFacts:
    """What routing keeps about a ticket to route, re-score and explain it."""

    ticket_id: uuid.UUID
    ticket_number: str
    category: str
    channel: str
    urgency: str
    customer_id: str
    segment: str
    required_skills: list[str]

    def values(self) -> dict[str, Any]:
        """As column values."""
        return {
            "ticket_id": self.ticket_id,
            "ticket_number": self.ticket_number,
            "category": self.category,
            "channel": self.channel,
            "urgency": self.urgency,
            "customer_id": self.customer_id,
            "segment": self.segment,
            "required_skills": self.required_skills,
        }


async def insert_assigned(
    session: AsyncSession,
    facts: TicketFacts,
    *,
    department_id: str,
    agent_id: str,
    capacity: int | None,
    at: datetime,
    score: float,
    reason_json: str,
) -> tuple[AgentLive | None, bool]:
    """Give a new ticket to `agent_id` if it is still available and below `capacity`; returns
    the agent's state after taking it (None: it could not) and whether the assignment was written."""
    row = (
        await session.execute(
            _TAKE_AND_INSERT,
            {
                **facts.values(),
                "department_id": department_id,
                "agent_id": agent_id,
                "capacity": capacity,
                "at": at,
                "score": score,
                "reason": reason_json,
            },
        )
    ).one()
    taken = None
    if row.open_tickets is not None:
        taken = AgentLive(open_tickets=row.open_tickets, presence=row.presence, last_turn=row.last_turn)
    return taken, bool(row.created)


# A whole run of new tickets decided in memory, written in one round trip: each chosen agent
# takes as many slots as tickets it was given (all or none: the same conditional UPDATE as
# `_TAKE_AND_INSERT`, so replicas never exceed a capacity), its turn drawn in the run's order
# of its last ticket (the round-robin order the decisions assumed; the rows locked in agent
# order first, so two replicas' runs cannot deadlock), then the tickets of the
# agents that took their slots are inserted, and the queued ones. It returns the agents that
# took their slots and the tickets written.
_TAKE_AND_INSERT_RUN = text(
    """
WITH wanted AS (
    SELECT w.agent_id, w.n, w.capacity, nextval('agent_turns') AS turn
    FROM (
        SELECT * FROM unnest(
            CAST(:agent_ids AS varchar[]), CAST(:counts AS integer[]), CAST(:capacities AS integer[])
        ) WITH ORDINALITY AS u(agent_id, n, capacity, ord)
        ORDER BY ord
    ) AS w
), locked AS (
    SELECT agent_id FROM agent_load WHERE agent_id = ANY(CAST(:agent_ids AS varchar[])) ORDER BY agent_id FOR UPDATE
), took AS (
    UPDATE agent_load l SET open_tickets = l.open_tickets + w.n, last_turn = w.turn
    FROM wanted w
    WHERE l.agent_id = w.agent_id AND l.agent_id IN (SELECT agent_id FROM locked) AND l.presence = 'available'
      AND (w.capacity IS NULL OR l.open_tickets + w.n <= w.capacity)
    RETURNING l.agent_id
), tickets AS (
    SELECT * FROM unnest(
        CAST(:ticket_ids AS uuid[]), CAST(:ticket_numbers AS varchar[]), CAST(:categories AS varchar[]),
        CAST(:department_ids AS varchar[]), CAST(:ticket_agent_ids AS varchar[]), CAST(:ats AS timestamptz[]),
        CAST(:channels AS varchar[]), CAST(:urgencies AS varchar[]), CAST(:customer_ids AS varchar[]),
        CAST(:segments AS varchar[]), CAST(:skills AS text[]), CAST(:scores AS double precision[]),
        CAST(:ranks AS double precision[]), CAST(:reasons AS text[])
    ) AS t(
        ticket_id, ticket_number, category, department_id, agent_id, at, channel, urgency, customer_id,
        segment, skills, score, rank, reason
    )
), ins AS (
    INSERT INTO assignments (
        ticket_id, ticket_number, category, department_id, agent_id, assigned_at, queued_at, state, decision,
        channel, urgency, customer_id, segment, required_skills, score, boost, queue_rank, reason
    )
    SELECT t.ticket_id, t.ticket_number, t.category, t.department_id, t.agent_id,
           CASE WHEN t.agent_id IS NULL THEN NULL ELSE t.at END,
           CASE WHEN t.agent_id IS NULL THEN t.at END,
           CASE WHEN t.agent_id IS NULL THEN 'queued' ELSE 'assigned' END,
           CASE WHEN t.agent_id IS NULL THEN 'queued' ELSE 'assigned' END,
           t.channel, t.urgency, t.customer_id, t.segment,
           ARRAY(SELECT jsonb_array_elements_text(CAST(t.skills AS jsonb)))::varchar[],
           t.score, 0, t.rank, CAST(t.reason AS jsonb)
    FROM tickets t
    WHERE t.agent_id IS NULL OR t.agent_id IN (SELECT agent_id FROM took)
    ON CONFLICT DO NOTHING
    RETURNING ticket_id
)
SELECT 'took' AS kind, agent_id AS agent_id, NULL::uuid AS ticket_id FROM took
UNION ALL
SELECT 'inserted', NULL, ticket_id FROM ins
"""
)


@dataclass(frozen=True)
class Decided:
    """One new ticket of a run as decided in memory: its agent (None: it waits in the queue, at
    `rank`), when, its score and the decision's reason."""

    facts: TicketFacts
    department_id: str
    agent_id: str | None
    at: datetime
    score: float
    rank: float | None
    reason_json: str


async def insert_run(
    session: AsyncSession, decided: Sequence[Decided], *, takes: Sequence[tuple[str, int, int | None]]
) -> tuple[set[str], set[uuid.UUID]]:
    """Write a run decided in memory: `takes` is `(agent_id, tickets, capacity)` per chosen agent,
    in the order their turns are drawn. Returns the agents that took their slots (a ticket of
    another agent is not written: the caller decides it again) and the tickets inserted (one
    missing was known after all: another transaction inserted it meanwhile)."""
    rows = (
        await session.execute(
            _TAKE_AND_INSERT_RUN,
            {
                "agent_ids": [a for a, _, _ in takes],
                "counts": [n for _, n, _ in takes],
                "capacities": [c for _, _, c in takes],
                "ticket_ids": [d.facts.ticket_id for d in decided],
                "ticket_numbers": [d.facts.ticket_number for d in decided],
                "categories": [d.facts.category for d in decided],
                "department_ids": [d.department_id for d in decided],
                "ticket_agent_ids": [d.agent_id for d in decided],
                "ats": [d.at for d in decided],
                "channels": [d.facts.channel for d in decided],
                "urgencies": [d.facts.urgency for d in decided],
                "customer_ids": [d.facts.customer_id for d in decided],
                "segments": [d.facts.segment for d in decided],
                "skills": [json.dumps(d.facts.required_skills) for d in decided],
                "scores": [d.score for d in decided],
                "ranks": [d.rank for d in decided],
                "reasons": [d.reason_json for d in decided],
            },
        )
    ).all()
    took = {row.agent_id for row in rows if row.kind == "took"}
    inserted = {row.ticket_id for row in rows if row.kind == "inserted"}
    return took, inserted


async def insert_queued(
    session: AsyncSession,
    facts: TicketFacts,
    *,
    department_id: str,
    at: datetime,
    score: float,
    rank: float,
    reason: dict[str, Any],
) -> bool:
    """Put a new ticket in its department's queue; False if routing already knew it."""
    created = await session.scalar(
        pg_insert(Assignment)
        .values(
            **facts.values(),
            department_id=department_id,
            state=QUEUED,
            decision=QUEUED,
            queued_at=at,
            score=score,
            boost=0.0,
            queue_rank=rank,
            reason=reason,
        )
        .on_conflict_do_nothing()
        .returning(Assignment.ticket_id)
    )
    return created is not None


async def fill_facts(session: AsyncSession, facts: TicketFacts, *, score: float) -> None:
    """Complete a row routing made before it saw the ticket's creation (it was resolved first);
    an urgency or category a later change already set there is kept."""
    values = {k: v for k, v in facts.values().items() if k not in ("ticket_id", "urgency", "category")}
    await session.execute(
        update(Assignment)
        .where(Assignment.ticket_id == facts.ticket_id, Assignment.ticket_number.is_(None))
        .values(
            **values,
            urgency=func.coalesce(Assignment.urgency, facts.urgency),
            category=func.coalesce(Assignment.category, facts.category),
            score=score,
        )
    )


async def get(session: AsyncSession, ticket_id: uuid.UUID, *, for_update: bool = False) -> Assignment | None:
    """The assignment of a ticket, if routing has seen it (read afresh, never from the session's cache)."""
    stmt = select(Assignment).where(Assignment.ticket_id == ticket_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def queued_among(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these tickets wait in a queue (one statement for a run of SLA breaches: only a
    waiting ticket is moved by one)."""
    if not ticket_ids:
        return set()
    rows = await session.scalars(
        select(Assignment.ticket_id).where(
            Assignment.ticket_id == any_(bindparam("ticket_ids", list(ticket_ids), type_=ARRAY(Uuid))),
            Assignment.state == QUEUED,
        )
    )
    return set(rows.all())


async def change(session: AsyncSession, ticket_id: uuid.UUID, **values: Any) -> None:
    """Set columns of one assignment."""
    await session.execute(update(Assignment).where(Assignment.ticket_id == ticket_id).values(**values))


# An escalation's writes in one round trip: the current decision kept in the history (the
# statement's snapshot is the row before the move), the ticket given to the supervisor, and the
# load moved from the previous owner (if any) to the supervisor, as `add_load` counts it.
_ESCALATE = text(
    """
WITH kept AS (
    INSERT INTO assignment_history (ticket_id, at, decision, state, department_id, agent_id, reason)
    SELECT a.ticket_id, CASE WHEN a.decision = 'queued' THEN a.queued_at ELSE a.assigned_at END,
           a.decision, a.state, a.department_id, a.agent_id, a.reason
    FROM assignments a WHERE a.ticket_id = :ticket_id AND a.decision IS NOT NULL
), moved AS (
    UPDATE assignments SET agent_id = :supervisor, assigned_at = :at, touched_at = NULL, decision = 'reassigned',
           reason = CAST(:reason AS jsonb)
    WHERE ticket_id = :ticket_id
), freed AS (
    INSERT INTO agent_load (agent_id, open_tickets)
    SELECT CAST(:previous AS varchar), 0 WHERE CAST(:previous AS varchar) IS NOT NULL
    ON CONFLICT (agent_id) DO UPDATE SET open_tickets = greatest(agent_load.open_tickets - 1, 0)
)
INSERT INTO agent_load (agent_id, open_tickets) VALUES (:supervisor, 1)
ON CONFLICT (agent_id) DO UPDATE SET open_tickets = greatest(agent_load.open_tickets + 1, 0)
"""
)


async def escalate(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    *,
    previous: str | None,
    supervisor: str,
    at: datetime,
    reason_json: str,
) -> None:
    """Give the ticket to the supervisor (its previous decision kept in its history) and move one
    open ticket from `previous` to the supervisor, whatever their capacity, in one statement."""
    await session.execute(
        _ESCALATE,
        {"ticket_id": ticket_id, "previous": previous, "supervisor": supervisor, "at": at, "reason": reason_json},
    )


async def supersede(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Keep the ticket's current decision in its history before a new one replaces it."""
    source = select(
        Assignment.ticket_id,
        case((Assignment.decision == QUEUED, Assignment.queued_at), else_=Assignment.assigned_at),
        Assignment.decision,
        Assignment.state,
        Assignment.department_id,
        Assignment.agent_id,
        Assignment.reason,
    ).where(Assignment.ticket_id == ticket_id, Assignment.decision.is_not(None))
    await session.execute(
        insert(AssignmentHistory).from_select(
            ["ticket_id", "at", "decision", "state", "department_id", "agent_id", "reason"], source
        )
    )


async def history(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[AssignmentHistory]:
    """The replaced decisions about a ticket, oldest first."""
    return (
        await session.scalars(
            select(AssignmentHistory).where(AssignmentHistory.ticket_id == ticket_id).order_by(AssignmentHistory.id)
        )
    ).all()


async def remember_closed(session: AsyncSession, ticket_id: uuid.UUID, *, at: datetime) -> None:
    """Remember a ticket routing never saw as finished, so a late `ticket.created` does not assign it."""
    await session.execute(
        pg_insert(Assignment)
        .values(ticket_id=ticket_id, state=CLOSED, closed_at=at, lifecycle_at=at)
        .on_conflict_do_nothing()
    )


# --- Events waiting for their ticket -------------------------------------------------------


async def park(session: AsyncSession, *, ticket_id: uuid.UUID, event_id: uuid.UUID, at: datetime, event: Any) -> None:
    """Keep an event about a ticket routing does not know yet (once, however often delivered)."""
    await session.execute(
        pg_insert(ParkedEvent)
        .values(ticket_id=ticket_id, event_id=event_id, occurred_at=at, event=event)
        .on_conflict_do_nothing()
    )


async def unpark(session: AsyncSession, ticket_id: uuid.UUID) -> list[dict[str, Any]]:
    """Take the events parked for a ticket, in the order they happened (parking order on a tie)."""
    rows = (
        await session.execute(
            delete(ParkedEvent)
            .where(ParkedEvent.ticket_id == ticket_id)
            .returning(ParkedEvent.id, ParkedEvent.occurred_at, ParkedEvent.event)
        )
    ).all()
    return [r.event for r in sorted(rows, key=lambda r: (r.occurred_at, r.id))]


async def parked_of_known(session: AsyncSession, *, limit: int) -> list[uuid.UUID]:
    """Tickets routing now knows that still have parked events (their `ticket.created` was routed
    by a transaction that could not see them yet): the sweep's safety net."""
    rows = await session.scalars(
        select(ParkedEvent.ticket_id)
        .join(Assignment, Assignment.ticket_id == ParkedEvent.ticket_id)
        .where(Assignment.ticket_number.is_not(None))
        .distinct()
        .limit(limit)
    )
    return list(rows)


# --- Agents' live state --------------------------------------------------------------------


async def agent_states(session: AsyncSession, agent_ids: Iterable[str]) -> dict[str, AgentLive]:
    """The live state of these agents (those with a row)."""
    ids = sorted(set(agent_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AgentLoad.agent_id, AgentLoad.open_tickets, AgentLoad.presence, AgentLoad.last_turn).where(
            AgentLoad.agent_id.in_(ids)
        )
    )
    return {
        r.agent_id: AgentLive(open_tickets=r.open_tickets, presence=r.presence, last_turn=r.last_turn) for r in rows
    }


async def take(session: AsyncSession, agent_id: str, *, capacity: int | None) -> AgentLive | None:
    """Count one more open ticket for the agent if it is available and below `capacity` (the race
    guard: a conditional UPDATE); its new state, or None when it could not take it."""
    stmt = (
        update(AgentLoad)
        .where(AgentLoad.agent_id == agent_id, AgentLoad.presence == "available")
        .values(open_tickets=AgentLoad.open_tickets + 1, last_turn=AGENT_TURNS.next_value())
        .returning(AgentLoad.open_tickets, AgentLoad.presence, AgentLoad.last_turn)
    )
    if capacity is not None:
        stmt = stmt.where(AgentLoad.open_tickets < capacity)
    row = (await session.execute(stmt)).first()
    return AgentLive(open_tickets=row.open_tickets, presence=row.presence, last_turn=row.last_turn) if row else None


async def add_load(session: AsyncSession, agent_id: str, delta: int) -> None:
    """Count one more (or one fewer) open ticket for the agent, whatever its presence or capacity
    (an escalation to a supervisor; a ticket leaving its owner)."""
    await session.execute(
        pg_insert(AgentLoad)
        .values(agent_id=agent_id, open_tickets=max(delta, 0))
        .on_conflict_do_update(
            index_elements=[AgentLoad.agent_id],
            set_={"open_tickets": func.greatest(AgentLoad.open_tickets + delta, 0)},
        )
    )


async def touch(session: AsyncSession, ticket_id: uuid.UUID, *, agent_id: str, at: datetime) -> None:
    """The ticket's owner replied, updated or planned: it is not abandoned."""
    await session.execute(
        update(Assignment)
        .where(Assignment.ticket_id == ticket_id, Assignment.agent_id == agent_id, Assignment.state == ASSIGNED)
        .values(touched_at=func.greatest(func.coalesce(Assignment.touched_at, at), at))
    )


async def untouched_of_absent(session: AsyncSession, *, cutoff: datetime, limit: int) -> Sequence[Assignment]:
    """Open tickets whose owner went away (or offline) at or before `cutoff` while owning them
    and has not touched them since they were assigned; locked, skipping any another sweep holds."""
    stmt = (
        select(Assignment)
        .join(AgentLoad, AgentLoad.agent_id == Assignment.agent_id)
        .where(
            Assignment.state == ASSIGNED,
            AgentLoad.presence != "available",
            AgentLoad.presence_changed_at <= cutoff,
            Assignment.assigned_at <= AgentLoad.presence_changed_at,
            (Assignment.touched_at.is_(None)) | (Assignment.touched_at < Assignment.assigned_at),
        )
        .order_by(Assignment.assigned_at, Assignment.ticket_id)
        .limit(limit)
        .with_for_update(of=Assignment, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).all()


async def earliest_absence_with_untouched(session: AsyncSession) -> datetime | None:
    """Since when the longest-away (or offline) agent that still owns a ticket untouched since
    before it left has been away: what `untouched_of_absent` will next find, once the grace has
    passed."""
    stmt = (
        select(func.min(AgentLoad.presence_changed_at))
        .join(Assignment, AgentLoad.agent_id == Assignment.agent_id)
        .where(
            Assignment.state == ASSIGNED,
            AgentLoad.presence != "available",
            Assignment.assigned_at <= AgentLoad.presence_changed_at,
            (Assignment.touched_at.is_(None)) | (Assignment.touched_at < Assignment.assigned_at),
        )
    )
    earliest: datetime | None = await session.scalar(stmt)
    return earliest


# --- Queues --------------------------------------------------------------------------------

_QUEUE_ORDER = (Assignment.queue_rank.desc(), Assignment.queued_at, Assignment.ticket_id)


async def queued_head(session: AsyncSession, department_id: str, *, limit: int) -> Sequence[Assignment]:
    """The best-ranked waiting tickets of a department, locked (skipping those another
    transaction is placing)."""
    stmt = (
        select(Assignment)
        .where(Assignment.state == QUEUED, Assignment.department_id == department_id)
        .order_by(*_QUEUE_ORDER)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).all()


async def queued(session: AsyncSession, *, department_id: str | None, limit: int) -> dict[str, list[Assignment]]:
    """Each department's waiting tickets in queue order (at most `limit` each)."""
    position = func.row_number().over(partition_by=Assignment.department_id, order_by=_QUEUE_ORDER).label("position")
    inner = select(Assignment.ticket_id, position).where(Assignment.state == QUEUED)
    if department_id is not None:
        inner = inner.where(Assignment.department_id == department_id)
    ranked = inner.subquery()
    stmt = (
        select(Assignment)
        .join(ranked, ranked.c.ticket_id == Assignment.ticket_id)
        .where(ranked.c.position <= limit)
        .order_by(Assignment.department_id, ranked.c.position)
    )
    out: dict[str, list[Assignment]] = {}
    for row in (await session.scalars(stmt)).all():
        out.setdefault(row.department_id or "", []).append(row)
    return out


async def queue_sizes(session: AsyncSession) -> dict[str, int]:
    """How many tickets wait in each department's queue."""
    rows = await session.execute(
        select(Assignment.department_id, func.count())
        .where(Assignment.state == QUEUED)
        .group_by(Assignment.department_id)
    )
    return {str(d): int(n) for d, n in rows.all()}
