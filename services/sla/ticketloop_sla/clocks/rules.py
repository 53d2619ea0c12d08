"""Which ticket event starts, stops, pauses, re-targets or cancels which metric: the one place
that answers "what stops the first-response clock?".

- acknowledgement: from the report; met when the acknowledgement reached the customer
  (`ticket.acknowledged`: the channel's webhook delivery answered 2xx, or a channel without such
  a subscription read the ticket back); routing's assignment and an agent's reply do not meet
  it; a resolution before it cancels it (no longer owed; a breach stands).
- first human response: from the report; met by an agent's reply, plan or update; a ticket
  resolved with none is cancelled (a self-service answer or a resolution is not a response).
- live access (live sessions and phone only): met when a person is connected: the owner says so
  (`ticket.connected`, `POST /v1/tickets/{id}/connected`) or answers the customer; routing
  picking an agent does not meet it.
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
    ClockView,
    TicketCreatedData,
    TicketOrigin,
    TicketRef,
)
from ticketloop_slarules import cycles as domain
from ticketloop_slarules import opening
from ticketloop_slarules.calendars import Calendar, business_seconds
from ticketloop_slarules.cycles import Cycle, Note
from ticketloop_slarules.policies import FALLBACK, Facts, Policy, Rules, choose

AT_REPORT = opening.AT_REPORT
LIVE_CHANNELS = opening.LIVE_CHANNELS
ANSWERED = (
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
    origin: str = TicketOrigin.CUSTOMER.value  # told by `ticket.created`
    segment: str | None = None
    need: str | None = None  # from `ticket.created`; unknown while only later events were seen
    status: str = "pending_assignment"
    department_id: str | None = None
    agent_id: str | None = None
    committed_resolution_at: datetime | None = None
    # When the placement shown (department, owner) was decided: an older one arriving later is stale.
    placed_at: datetime | None = None
    # When the newest clock event applied happened (None: no history kept, arrival order).
    applied_until: datetime | None = None
    policy_id: str = FALLBACK.id
    rules_version: int = 0
    version: int = 0
    clocks: dict[ClockKind, Cycle] = field(default_factory=dict)
    ended: list[Cycle] = field(default_factory=list)  # cycles no longer current, to store
    notes: list[Note] = field(default_factory=list)
    # The policy and clocks intake announced in `ticket.created` (computed at acceptance with
    # these rules): when sla's own start is exactly that, its first publication would tell
    # nobody anything (`service._publish_pending`). Only for a ticket first seen by that event.
    announced: tuple[str | None, list[ClockView]] | None = field(default=None, compare=False, repr=False)
    changed: bool = False  # since the last publication of its clocks
    dirty: set[ClockKind] = field(default_factory=set)  # current cycles changed since loaded
    new: bool = False
    # The ticket's row as stored (None: not stored yet): `save` leaves an unchanged row alone.
    stored: tuple[object, ...] | None = field(default=None, compare=False, repr=False)

    def facts(self) -> Facts:
        """What the policy conditions look at."""
        return Facts(
            channel=self.channel, category=self.category, urgency=self.urgency, segment=self.segment, need=self.need
        )

    @property
    def is_live(self) -> bool:
        """The customer waits in a live session (phone always is)."""
        return opening.is_live(self.channel, live_session=self.live)

    def set(self, kind: ClockKind, cycle: Cycle) -> None:
        """Replace the metric's current cycle, noting whether anything changed, and whether
        anything a reader of its publication sees did (`shown`): a warning given or an
        escalation step taken is stored, not published as deadlines."""
        previous = self.clocks.get(kind)
        if previous != cycle:
            self.clocks[kind] = cycle
            self.dirty.add(kind)
            if previous is None or shown(previous) != shown(cycle):
                self.changed = True


def shown(c: Cycle) -> tuple[object, ...]:
    """What `sla.clocks_changed` tells of a cycle (`ticketloop_slarules.published.view`)."""
    return (
        c.kind,
        c.cycle,
        c.status,
        c.started_at,
        c.due_at,
        c.target_seconds,
        c.paused_seconds,
        c.stopped_at,
        c.breached_at,
    )


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
        origin=ref.origin.value if isinstance(ref, TicketCreatedData) else TicketOrigin.CUSTOMER.value,
        need=ref.need if isinstance(ref, TicketCreatedData) else None,
        new=True,
    )


def runs_customer_clocks(origin: str) -> bool:
    """A care contact is a task, not a customer's problem: it runs no customer-response clock
    (acknowledgement, first response, plan, progress, resolution, follow-up); its due date counts."""
    return origin != TicketOrigin.CARE.value


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
        if kind in t.clocks or not opening.runs_at_report(kind, live=t.is_live):
            continue
        _start(t, kind, t.created_at, rules)


def _start(t: Ticket, kind: ClockKind, at: datetime, rules: Rules, *, cycle: int = 1) -> None:
    if not runs_customer_clocks(t.origin):
        return
    policy = _policy(t, rules)
    target = policy.target(kind)
    if target is None:
        return
    seconds = _target_seconds(t, kind, at, target.seconds, rules.calendar(target.calendar), policy)
    c = opening.open_cycle(
        kind, at=at, policy=policy, rules=rules, status=t.status, cycle=cycle, target_seconds=seconds
    )
    assert c is not None  # the policy measures it (checked above)
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


def assigned(t: Ticket, *, agent_id: str, department_id: str, at: datetime | None = None) -> None:
    """A named owner: who is measured from now on. No clock moves: routing picking someone is
    neither the customer's acknowledgement nor a person connected with them. A placement older
    than the one shown (a late assignment after a reassignment) changes nothing."""
    if _placed(t, at):
        t.agent_id, t.department_id = agent_id, department_id


def _placed(t: Ticket, at: datetime | None) -> bool:
    """Whether a placement decided `at` is the newest: if so it is now the one shown."""
    if at is not None and t.placed_at is not None and at < t.placed_at:
        return False
    t.placed_at = at or t.placed_at
    return True


def acknowledged(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """The acknowledgement reached the customer (delivered, or read back by the channel)."""
    _stop(t, [ClockKind.ACKNOWLEDGEMENT], at, rules)


def connected(t: Ticket, rules: Rules, *, at: datetime) -> None:
    """A person is connected with the customer waiting live."""
    _stop(t, [ClockKind.LIVE_ACCESS], at, rules)


def queued(t: Ticket, *, department_id: str, at: datetime | None = None) -> None:
    """Waiting in a department's queue (new, or transferred there): that department's now, with
    nobody on it yet; no clock moves (neither a queue nor an owner is an acknowledgement). Stale
    when older than the placement shown."""
    if _placed(t, at):
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
    _stop(t, [ClockKind.PLAN, ClockKind.RESOLUTION], at, rules)
    _cancel(
        t,
        [
            ClockKind.ACKNOWLEDGEMENT,
            ClockKind.FIRST_RESPONSE,
            ClockKind.LIVE_ACCESS,
            ClockKind.NEXT_REPLY,
            ClockKind.PERIODIC_UPDATE,
        ],
        at,
        rules,
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
    if t.clocks and (t.policy_id, t.rules_version) != (policy.id, rules.version):
        t.changed = True  # the publication names the policy its deadlines follow
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
