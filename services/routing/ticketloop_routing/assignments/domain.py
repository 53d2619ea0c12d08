"""Routing's rules as pure functions: who is eligible, who is chosen, and how waiting tickets are
ranked. Everything here is decided from values; the service feeds it state and applies the result."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from ticketloop_routing.organisation.domain import AgentConfig, Presence, Strategy
from ticketloop_shared.events import AssignmentCandidate, AssignmentReason
from ticketloop_shared.vocabulary import Segment


class State(StrEnum):
    """Where a ticket stands in routing: owned by an agent, waiting in a department's queue, or done."""

    ASSIGNED = "assigned"
    QUEUED = "queued"
    CLOSED = "closed"


# The legal moves of a ticket in routing (None: routing has not seen it). Closing twice, or
# reopening a ticket that is not closed, are no-ops the service skips, not moves.
TRANSITIONS: frozenset[tuple[State | None, State]] = frozenset(
    {
        (None, State.ASSIGNED),
        (None, State.QUEUED),
        (None, State.CLOSED),  # resolved before routing saw it: remembered, never assigned
        (State.QUEUED, State.ASSIGNED),  # capacity freed
        (State.QUEUED, State.QUEUED),  # re-scored, or moved to another department's queue
        (State.QUEUED, State.CLOSED),
        (State.ASSIGNED, State.ASSIGNED),  # reassigned: away, escalated, recategorised
        (State.ASSIGNED, State.QUEUED),  # its owner went away and nobody else can take it
        (State.ASSIGNED, State.CLOSED),
        (State.CLOSED, State.ASSIGNED),  # reopened
        (State.CLOSED, State.QUEUED),  # reopened, nobody free
    }
)


def can_move(old: State | None, new: State) -> bool:
    """Whether routing may move a ticket from `old` to `new`."""
    return (old, new) in TRANSITIONS


# --- Priority ------------------------------------------------------------------------------
# SPEC §2: "high-value customers are served first; priority combines urgency, customer segment
# and channel". Points add up; higher goes first.
URGENCY_POINTS: dict[str, float] = {"critical": 100.0, "urgent": 50.0, "normal": 0.0}
SEGMENT_POINTS: dict[str, float] = {
    Segment.HIGH_VALUE: 60.0,
    Segment.CHURN_RISK: 40.0,
    Segment.NEW: 20.0,
    Segment.POTENTIAL: 0.0,
}
# Live channels first: the customer is on the line or at the counter (SPEC §2: voice answered
# within 3 minutes, live access within 30 s), then messaging, then app; email and web can wait.
CHANNEL_POINTS: dict[str, float] = {
    "phone": 30.0,
    "counter": 30.0,
    "messaging": 20.0,
    "app": 10.0,
    "email": 0.0,
    "web": 0.0,
    "proactive": 0.0,
}
WAIT_POINTS_PER_MINUTE = 1.0
# Each missed SLA deadline of a waiting ticket (`sla.breached`) lifts it by this much.
SLA_BREACH_POINTS = 50.0
# The instant queue ranks are counted from (keeps the stored numbers small and readable).
RANK_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def priority_score(
    *, urgency: str, segment: str, channel: str, waited_seconds: float = 0.0, boost: float = 0.0
) -> float:
    """The priority of a ticket: higher is served first.

    score = urgency + segment + channel + 1 point per minute waited + boost, where
    - urgency: critical 100, urgent 50, normal 0;
    - segment: high_value 60, churn_risk 40, new 20, potential 0 (so a high-value customer's
      normal ticket goes before anyone else's urgent one, but not before a critical one);
    - channel: phone and counter 30, messaging 20, app 10, email, web and proactive 0;
    - waiting: 1 point a minute, so nothing waits forever: a normal web ticket that has waited an
      hour is worth a fresh high-value one;
    - boost: 50 per breached SLA deadline while waiting (`SLA_BREACH_POINTS`).
    Unknown values count 0. The waiting term is linear and the same for every ticket, so the
    order of a queue never changes by itself and can be kept in an index (`queue_rank`).
    """
    return (
        URGENCY_POINTS.get(urgency, 0.0)
        + SEGMENT_POINTS.get(segment, 0.0)
        + CHANNEL_POINTS.get(channel, 0.0)
        + WAIT_POINTS_PER_MINUTE * max(waited_seconds, 0.0) / 60.0
        + boost
    )


def queue_rank(base_score: float, queued_at: datetime) -> float:
    """A time-invariant sort key for a waiting ticket (higher first): its score at any instant
    minus what the waiting term gives every ticket alike by then."""
    return base_score - WAIT_POINTS_PER_MINUTE * (queued_at - RANK_EPOCH).total_seconds() / 60.0


def score_at(rank: float, now: datetime) -> float:
    """A waiting ticket's score at `now`, from its rank."""
    return rank + WAIT_POINTS_PER_MINUTE * (now - RANK_EPOCH).total_seconds() / 60.0


# --- Choosing an agent ---------------------------------------------------------------------
RULES: dict[Strategy, str] = {
    Strategy.LEAST_LOADED: "least_loaded: the available agent below capacity with the fewest open tickets (ties by id)",
    Strategy.ROUND_ROBIN: "round_robin: the available agent below capacity given a ticket least recently (ties by id)",
    Strategy.SKILLS: "skills: an available agent below capacity whose skills cover every required skill, "
    "fewest open tickets first",
}
RULE_ACCOUNT_MANAGER = "account_manager: the high-value customer's dedicated account manager"
RULE_PREVIOUS_OWNER = "previous_owner: the agent who owned the ticket before it was reopened"
RULE_QUEUED = "queued: no available agent below capacity in the department"
RULE_QUEUED_SKILLS = "queued: no available agent below capacity has every required skill"
# A reason lists at most this many candidates (the chosen one always among them).
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Candidate:
    """An agent and its live state: presence, load, limit, when it last got a ticket."""

    agent: AgentConfig
    presence: Presence
    open_tickets: int
    capacity: int | None
    last_turn: int | None = None


@dataclass(frozen=True)
class Choice:
    """Routing's decision: the agent (None: the ticket waits) and why."""

    agent_id: str | None
    reason: AssignmentReason


def why_not(candidate: Candidate, *, required_skills: frozenset[str] | None) -> str | None:
    """Why `candidate` cannot take the ticket now (None: it can). `required_skills` is None when
    the department does not route by skills."""
    if not candidate.agent.active:
        return "inactive"
    if candidate.presence is not Presence.AVAILABLE:
        return candidate.presence.value
    if candidate.capacity is not None and candidate.open_tickets >= candidate.capacity:
        return "at_capacity"
    if required_skills:
        missing = required_skills - candidate.agent.skills
        if missing:
            return "missing_skills:" + ",".join(sorted(missing))
    return None


def _order_key(strategy: Strategy, candidate: Candidate) -> tuple[int, int, str]:
    if strategy is Strategy.ROUND_ROBIN:
        never = candidate.last_turn is None
        return (0 if never else 1, candidate.last_turn or 0, candidate.agent.id)
    return (candidate.open_tickets, 0, candidate.agent.id)


def choose_agent(
    candidates: Iterable[Candidate],
    *,
    strategy: Strategy,
    required_skills: Iterable[str] = (),
    preferred: Sequence[tuple[str, str]] = (),
    score: float | None = None,
    waited_seconds: float = 0.0,
    because: str | None = None,
) -> Choice:
    """Who takes a ticket: the first eligible `preferred` agent (account manager, previous owner:
    `(agent_id, rule)` pairs, in order), else the department's strategy among its eligible agents;
    nobody (the ticket waits) when none is eligible. Eligible = active, available, below capacity
    and, for the skills strategy, covering every required skill. `because` prefixes the rule with
    what prompted the decision (a reassignment's cause)."""
    pool = {c.agent.id: c for c in candidates}
    skills = frozenset(required_skills) if strategy is Strategy.SKILLS else None
    verdicts = {agent_id: why_not(c, required_skills=skills) for agent_id, c in pool.items()}
    chosen: str | None = None
    rule = ""
    for agent_id, preferred_rule in preferred:
        if agent_id in pool and verdicts[agent_id] is None:
            chosen, rule = agent_id, preferred_rule
            break
    if chosen is None:
        eligible = [c for agent_id, c in pool.items() if verdicts[agent_id] is None]
        if eligible:
            chosen = min(eligible, key=lambda c: _order_key(strategy, c)).agent.id
            rule = RULES[strategy]
        else:
            rule = RULE_QUEUED_SKILLS if skills else RULE_QUEUED
    listed = sorted(pool, key=lambda agent_id: (agent_id != chosen, agent_id))[:MAX_CANDIDATES]
    reason = AssignmentReason(
        strategy=strategy.value,
        rule=f"{because}; {rule}" if because else rule,
        score=round(score, 3) if score is not None else None,
        candidates=[
            AssignmentCandidate(
                agent_id=agent_id,
                presence=pool[agent_id].presence.value,
                open_tickets=pool[agent_id].open_tickets,
                capacity=pool[agent_id].capacity,
                skills=sorted(pool[agent_id].agent.skills),
                eligible=verdicts[agent_id] is None,
                why_not=verdicts[agent_id],
            )
            for agent_id in sorted(listed)
        ],
        waited_seconds=round(max(waited_seconds, 0.0), 3),
    )
    return Choice(agent_id=chosen, reason=reason)


def escalation_reason(
    *, supervisor: str, clock: str, strategy: Strategy, score: float | None, previous: Candidate | None
) -> AssignmentReason:
    """Why a ticket whose SLA deadline passed went to its department's supervisor."""
    return AssignmentReason(
        strategy=strategy.value,
        rule=f"sla_escalation: the {clock} deadline was breached; escalated to the department's supervisor "
        f"{supervisor}",
        score=round(score, 3) if score is not None else None,
        candidates=[]
        if previous is None
        else [
            AssignmentCandidate(
                agent_id=previous.agent.id,
                presence=previous.presence.value,
                open_tickets=previous.open_tickets,
                capacity=previous.capacity,
                skills=sorted(previous.agent.skills),
                eligible=False,
                why_not="sla_breached",
            )
        ],
    )


def waited(since: datetime | None, now: datetime) -> float:
    """Seconds between `since` and `now` (0 when it never waited)."""
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


# --- People acting on a ticket: take, assign, transfer, and who may read it ----------------


class Act(StrEnum):
    """What a staff member does to a ticket routing holds."""

    READ = "read"
    TAKE = "take"
    ASSIGN = "assign"
    TRANSFER = "transfer"


# The rule a person's act records in the reason (routing's own rules say `least_loaded: …`).
RULE_TAKEN = "taken"
RULE_ASSIGNED_BY = "assigned_by"
RULE_TRANSFERRED = "transferred"


def act_refusal(act: Act, *, role: str, department: str | None, ticket_department: str | None) -> str | None:
    """Why a staff member (`role`, working in `department`) may not do `act` to a ticket of
    `ticket_department` (None: it may).

    - read: an admin, or an agent or supervisor of the ticket's department;
    - take: an agent or supervisor of the ticket's department (an admin works in none);
    - assign, transfer: a supervisor of the ticket's department, or an admin.
    The role is checked before the department, so an agent asking to assign hears that it needs
    a supervisor, whichever department the ticket is in."""
    if role == "admin":
        return "agent_or_supervisor_required" if act is Act.TAKE else None
    if act in (Act.ASSIGN, Act.TRANSFER) and role != "supervisor":
        return "supervisor_required"
    if role not in ("agent", "supervisor"):
        return "staff_required"
    if department is None:
        return "department_required"
    if department != ticket_department:
        return "not_your_department"
    return None


def holder_refusal(
    candidate: Candidate | None, *, department_id: str, unlisted_ok: bool, override: bool = False
) -> str | None:
    """Why a ticket of `department_id` may not be given by hand to this person (None: it may).

    `candidate` is the person as a configured agent with their live state, None when they are
    not one (a supervisor): such a person holds the ticket whatever their load when
    `unlisted_ok`, and is refused otherwise. An agent must be an active agent of the department;
    away (or offline) or at capacity refuses too, unless a supervisor `override`s it (skills are
    not checked: the person handing the ticket over knows what it needs)."""
    if candidate is None:
        return None if unlisted_ok else "agent_not_in_department"
    if candidate.agent.department_id != department_id:
        return "agent_not_in_department"
    if not candidate.agent.active:
        return "agent_inactive"
    if override:
        return None
    if candidate.presence is not Presence.AVAILABLE:
        return "agent_away"
    if candidate.capacity is not None and candidate.open_tickets >= candidate.capacity:
        return "agent_at_capacity"
    return None


def override_refusal(*, override: bool, note: str | None) -> str | None:
    """An override of presence or capacity must say why (None: fine)."""
    return "note_required" if override and not (note or "").strip() else None


def actor_of(role: str, sub: str) -> str:
    """How a reason names the person who acted: `supervisor:sup-desk`."""
    return f"{role}:{sub}"


def manual_reason(
    *,
    rule: str,
    actor: str,
    note: str | None,
    strategy: Strategy,
    score: float | None,
    holder: Candidate | None,
    waited_seconds: float = 0.0,
) -> AssignmentReason:
    """Why a ticket went to the person a staff member named: the act's rule, who acted and their
    note, and the holder's state at that moment (ineligible with its `why_not` when the act
    overrode presence or capacity)."""
    listed = []
    if holder is not None:
        verdict = why_not(holder, required_skills=None)
        listed.append(
            AssignmentCandidate(
                agent_id=holder.agent.id,
                presence=holder.presence.value,
                open_tickets=holder.open_tickets,
                capacity=holder.capacity,
                skills=sorted(holder.agent.skills),
                eligible=verdict is None,
                why_not=verdict,
            )
        )
    return AssignmentReason(
        strategy=strategy.value,
        rule=rule,
        score=round(score, 3) if score is not None else None,
        candidates=listed,
        waited_seconds=round(max(waited_seconds, 0.0), 3),
        actor=actor,
        note=note,
    )
