"""Which ticket event starts, stops, pauses, re-targets or cancels which metric: the one place
that answers "what stops the first-response clock?".

- acknowledgement: from the report; met by the first sign of a person on it (assignment,
  reply, plan, update or resolution).
- first human response: from the report; met by an agent's reply, plan or update; a ticket
  resolved with none is cancelled (a self-service answer or a resolution is not a response).
- live access (live sessions and phone only): met when an agent takes or answers the ticket.
- solution or plan: met by a committed plan or the resolution.
- resolution: met by the resolution, against the committed time once a plan commits one;
  a reopen starts a new cycle.
- periodic update: recurring; each reply, plan or update meets the cycle and starts the next;
  resolution cancels the open cycle, a reopen starts a new one.
- next reply: a customer message starts a cycle when none is open; the next agent reply,
  plan or update meets it; resolution cancels it.
- follow-up: from the resolution (not a self-service one); met by `ticket.followed_up`,
  cancelled by a reopen.
A closed ticket cancels whatever it still owes except the follow-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ticketloop_shared.events import (
    ClockKind,
    ClockOutcome,
    TicketRef,
)
from ticketloop_sla.calendars.domain import Calendar, business_seconds
from ticketloop_sla.clocks import domain
from ticketloop_sla.clocks.domain import Cycle, Note
from ticketloop_sla.policies.domain import FALLBACK, Facts, Policy, Rules, choose

AT_REPORT = (
    ClockKind.ACKNOWLEDGEMENT,
    ClockKind.FIRST_RESPONSE,
    ClockKind.LIVE_ACCESS,
    ClockKind.PLAN,
    ClockKind.RESOLUTION,
    ClockKind.PERIODIC_UPDATE,
)
LIVE_CHANNELS = frozenset({"phone"})
PERSON_ON_IT = (ClockKind.ACKNOWLEDGEMENT, ClockKind.LIVE_ACCESS)
ANSWERED = (
    ClockKind.ACKNOWLEDGEMENT,
    ClockKind.FIRST_RESPONSE,
    ClockKind.LIVE_ACCESS,
    ClockKind.NEXT_REPLY,
)


@dataclass
class Ticket:
    """sla's copy of a ticket: what its policy depends on and its clocks' current cycles."""

    ticket_id: uuid.UUID
    number: str
    channel: str
    category: str
    urgency: str
    customer_id: str
    created_at: datetime
    live: bool = False
    segment: str | None = None
    status: str = "pending_assignment"
    department_id: str | None = None
    agent_id: str | None = None
    committed_resolution_at: datetime | None = None
    policy_id: str = FALLBACK.id
    rules_version: int = 0
    version: int = 0
    clocks: dict[ClockKind, Cycle] = field(default_factory=dict)
    ended: list[Cycle] = field(default_factory=list)  # cycles no longer current, to store
    notes: list[Note] = field(default_factory=list)
    changed: bool = False  # since the last publication of its clocks
    dirty: set[ClockKind] = field(default_factory=set)  # current cycles changed since loaded
    new: bool = False

    def facts(self) -> Facts:
        """What the policy conditions look at."""
        return Facts(channel=self.channel, category=self.category, urgency=self.urgency, segment=self.segment)

    @property
    def is_live(self) -> bool:
        """The customer waits in a live session (phone always is)."""
        return self.live or self.channel in LIVE_CHANNELS

    def set(self, kind: ClockKind, cycle: Cycle) -> None:
        """Replace the metric's current cycle, noting whether anything changed."""
        if self.clocks.get(kind) != cycle:
            self.clocks[kind] = cycle
            self.changed = True
            self.dirty.add(kind)


def from_ref(ref: TicketRef, *, live: bool = False) -> Ticket:
    """A ticket sla has not seen yet, from what every ticket event repeats about it."""
    return Ticket(
        ticket_id=ref.ticket_id,
        number=ref.number,
        channel=ref.channel,
        category=ref.category,
        urgency=ref.urgency,
        customer_id=ref.customer_id,
        created_at=ref.created_at,
        live=live,
        new=True,
    )


def _policy(t: Ticket, rules: Rules) -> Policy:
    return rules.policy(t.policy_id)


def _cal(rules: Rules, c: Cycle) -> Calendar:
    return rules.calendar(c.calendar)


def _note(t: Ticket, note: Note | None) -> None:
    if note is not None:
        t.notes.append(note)


def begin(t: Ticket, rules: Rules) -> None:
    """Choose the policy of a ticket seen for the first time, and start the clocks that run
    from the report and are not running yet."""
    if not t.clocks:
        policy = choose(rules.policies, t.facts())
        t.policy_id, t.rules_version = policy.id, rules.version
    for kind in AT_REPORT:
        if kind in t.clocks or (kind is ClockKind.LIVE_ACCESS and not t.is_live):
            continue
        _start(t, kind, t.created_at, rules)


def _start(t: Ticket, kind: ClockKind, at: datetime, rules: Rules, *, cycle: int = 1) -> None:
    policy = _policy(t, rules)
    target = policy.target(kind)
    if target is None:
        return
    cal = rules.calendar(target.calendar)
    c = domain.start(
        kind,
        at=at,
        target_seconds=_target_seconds(t, kind, at, target.seconds, cal, policy),
        calendar=target.calendar,
        policy=policy,
        cal=cal,
        paused=policy.pauses_in(kind, t.status),
        cycle=cycle,
    )
    previous = t.clocks.get(kind)
    if previous is not None:
        t.ended.append(replace(previous, current=False))
    t.set(kind, c)


def _target_seconds(
    t: Ticket, kind: ClockKind, at: datetime, policy_seconds: float, cal: Calendar, policy: Policy
) -> float:
    """The policy's allowance, or for resolution the time to the committed instant once a plan
    committed one (counted from the cycle's start, in its calendar)."""
    if kind is ClockKind.RESOLUTION and t.committed_resolution_at is not None:
        return max(1.0, business_seconds(cal, at, t.committed_resolution_at))
    return policy_seconds


def _stop(t: Ticket, kinds: Iterable[ClockKind], at: datetime, rules: Rules) -> None:
    policy = _policy(t, rules)
    for kind in kinds:
        c = t.clocks.get(kind)
        if c is None or not c.open:
            continue
        stopped, note = domain.stop(c, at, policy, _cal(rules, c))
        t.set(kind, stopped)
        _note(t, note)


def _cancel(t: Ticket, kinds: Iterable[ClockKind], at: datetime, rules: Rules) -> None:
    for kind in kinds:
        c = t.clocks.get(kind)
        if c is not None and c.open:
            t.set(kind, domain.cancel(c, at, _cal(rules, c)))


def _restart(t: Ticket, kind: ClockKind, at: datetime, rules: Rules) -> None:
    """End the metric's current cycle (met if open) and start the next one at `at`."""
    c = t.clocks.get(kind)
    if c is None:
        return
    if c.open:
        _stop(t, [kind], at, rules)
        c = t.clocks[kind]
    if c.stopped_at is not None and c.stopped_at > at:
        return  # a later update already restarted it
    _start(t, kind, at, rules, cycle=c.cycle + 1)


def assigned(t: Ticket, rules: Rules, *, agent_id: str, department_id: str, at: datetime) -> None:
    """A named owner: acknowledged, and live access given."""
    t.agent_id, t.department_id = agent_id, department_id
    _stop(t, PERSON_ON_IT, at, rules)


def queued(t: Ticket, *, department_id: str) -> None:
    """Waiting in a department's queue (new, or transferred there): that department's now, with
    nobody on it yet; no clock moves (only a named owner acknowledges)."""
    t.agent_id, t.department_id = None, department_id


def answered(t: Ticket, rules: Rules, *, at: datetime, plan: bool = False) -> None:
    """An agent told the customer something (a reply, a plan or a progress update)."""
    _stop(t, ANSWERED, at, rules)
    if plan:
        _stop(t, [ClockKind.PLAN], at, rules)
    _restart(t, ClockKind.PERIODIC_UPDATE, at, rules)


def plan_committed(t: Ticket, rules: Rules, *, at: datetime, resolve_by: datetime) -> None:
    """A committed resolution time: the plan clock is met and resolution is measured against it."""
    answered(t, rules, at=at, plan=True)
    t.committed_resolution_at = resolve_by
    c = t.clocks.get(ClockKind.RESOLUTION)
    if c is not None and c.open:
        cal = _cal(rules, c)
        target = domain.used_at(c, at, cal) + business_seconds(cal, at, resolve_by)
        t.set(
            ClockKind.RESOLUTION,
            domain.retarget(
                c,
                at=at,
                target_seconds=max(1.0, target),
                calendar=c.calendar,
                policy=_policy(t, rules),
                calendar_of=rules.calendar,
            ),
        )


def message_received(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """A customer message waits for the next reply (the oldest unanswered one sets the clock)."""
    c = t.clocks.get(ClockKind.NEXT_REPLY)
    if c is not None and (c.open or (c.stopped_at is not None and c.stopped_at >= at)):
        return
    _start(t, ClockKind.NEXT_REPLY, at, rules, cycle=(c.cycle + 1) if c else 1)


def status_changed(t: Ticket, rules: Rules, *, status: str, at: datetime) -> None:
    """Pause the metrics the new status pauses, resume the others."""
    t.status = status
    policy = _policy(t, rules)
    for kind, c in list(t.clocks.items()):
        cal = _cal(rules, c)
        if policy.pauses_in(kind, status):
            t.set(kind, domain.pause(c, at, cal))
        else:
            t.set(kind, domain.resume(c, at, policy, cal))


def resolved(t: Ticket, rules: Rules, *, at: datetime, first_response_at: datetime | None, self_service: bool) -> None:
    """The problem is solved: resolution and plan met, what a person still owed is settled."""
    if first_response_at is not None:
        _stop(t, [ClockKind.FIRST_RESPONSE], first_response_at, rules)
    _stop(t, [ClockKind.ACKNOWLEDGEMENT, ClockKind.PLAN, ClockKind.RESOLUTION], at, rules)
    _cancel(
        t, [ClockKind.FIRST_RESPONSE, ClockKind.LIVE_ACCESS, ClockKind.NEXT_REPLY, ClockKind.PERIODIC_UPDATE], at, rules
    )
    follow = t.clocks.get(ClockKind.FOLLOW_UP)
    if not self_service and (follow is None or (not follow.open and (follow.stopped_at or at) <= at)):
        _start(t, ClockKind.FOLLOW_UP, at, rules, cycle=(follow.cycle + 1) if follow else 1)


def followed_up(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """The post-resolution follow-up happened."""
    _stop(t, [ClockKind.FOLLOW_UP], at, rules)


def reopened(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """The problem is back: a new resolution cycle and a new update cycle; no follow-up owed."""
    _cancel(t, [ClockKind.FOLLOW_UP], at, rules)
    t.committed_resolution_at = None
    for kind in (ClockKind.RESOLUTION, ClockKind.PERIODIC_UPDATE):
        c = t.clocks.get(kind)
        if c is None or not c.open:
            _start(t, kind, at, rules, cycle=(c.cycle + 1) if c else 1)


def closed(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """Nothing but the follow-up is owed on a closed ticket."""
    _cancel(t, [k for k in t.clocks if k is not ClockKind.FOLLOW_UP], at, rules)


def refresh(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """Facts or rules changed: choose the policy again and give every open cycle its new target
    and calendar, keeping the business time it has used (past breaches stand)."""
    policy = choose(rules.policies, t.facts())
    t.policy_id, t.rules_version = policy.id, rules.version
    for kind, c in list(t.clocks.items()):
        target = policy.target(kind)
        if target is None:
            if c.open:
                t.set(kind, domain.cancel(c, at, _cal(rules, c)))
            continue
        if not c.open:
            continue
        cal = rules.calendar(target.calendar)
        seconds = _target_seconds(t, kind, c.started_at, target.seconds, cal, policy)
        if kind is ClockKind.RESOLUTION and t.committed_resolution_at is not None:
            seconds = c.target_seconds  # a commitment told to the customer is not re-negotiated
        moved = domain.retarget(
            c, at=at, target_seconds=seconds, calendar=target.calendar, policy=policy, calendar_of=rules.calendar
        )
        # Pause rules may differ under the new policy.
        if policy.pauses_in(kind, t.status):
            moved = domain.pause(moved, at, cal)
        else:
            moved = domain.resume(moved, at, policy, cal)
        t.set(kind, domain.schedule(moved, policy, cal) if moved.status == ClockOutcome.RUNNING else moved)


def tick(t: Ticket, rules: Rules, *, now: datetime) -> None:
    """The timer's visit: every warning, breach and escalation due by `now`."""
    policy = _policy(t, rules)
    for kind, c in list(t.clocks.items()):
        if c.next_at is None or c.next_at > now:
            continue
        cycles, notes = domain.advance(c, now, policy, _cal(rules, c))
        *ended, current = cycles
        t.ended.extend(ended)
        t.set(kind, current)
        t.notes.extend(notes)


Apply = Callable[[Ticket, Rules], None]
