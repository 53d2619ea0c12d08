"""Order tolerance: when an event of a ticket arrives older than the newest one already applied
to its clocks (a reply overtaken by the wait it answers, a priority change overtaken by the
reply after it), the clocks are rebuilt from the ticket's applied events in time order, so they
end as they would have had the events come in that order. The rule, pure:

- the events are taken in the order they happened (ties: the order sla applied them); the
  ticket starts from the earliest one that carries its facts;
- each is applied as on arrival (`rules.begin`, the event's rule, the timer's visit); the visit
  after an event goes up to the instant sla first knew of a later one (the earliest arrival
  among the events after it), `now` after the last: what fell due before sla could know better
  is due, as in time order; what a later event, known in time, stopped is not;
- what was announced is not announced again: a note about a metric's cycle already announced
  is dropped, and so is a `met` for a cycle announced breached (a breach announced stands:
  consumers count it whatever follows); a rebuilt cycle keeps the warning and escalation steps
  announced about it, and one still open an announced breach, so the timer does not reach them
  again. A cycle the rebuild ended shows
  the time-order outcome (a recurring metric's cycles may be numbered differently once the
  events are in order, so its stored numbers say little about the rebuilt ones).

Facts that are not ticket events (the customer's segment, the rules in force) are taken as
they stand now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ticketloop_shared.events import (
    ClockKind,
    ClockOutcome,
    Envelope,
    TicketAssigned,
    TicketCreated,
    TicketQueued,
    TicketReassigned,
    TicketRef,
)
from ticketloop_sla.clocks import rules
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_slarules.cycles import Announce, Cycle, Note
from ticketloop_slarules.policies import Rules

# Routing's placements move no clock and are order-tolerant on their own (`rules.assigned`):
# a late one never calls for a rebuild.
PLACEMENTS: tuple[type[Envelope], ...] = (TicketAssigned, TicketReassigned, TicketQueued)

Apply = Callable[[Ticket, Rules, Envelope], None]
# What was said about a cycle: (what, metric, cycle, escalation level or 0).
Said = tuple[Announce, ClockKind, int, int]


@dataclass(frozen=True)
class Entry:
    """One event of a ticket's history and when sla applied it."""

    event: Envelope
    arrived_at: datetime


def is_late(t: Ticket, event: Envelope) -> bool:
    """Whether `event` happened before the newest clock event applied to `t` (the one
    comparison the in-order path pays)."""
    return t.applied_until is not None and event.occurred_at < t.applied_until


def in_time_order(history: Iterable[Entry]) -> list[Entry]:
    """The events in the order they happened; ties keep the order they were applied in."""
    return sorted(history, key=lambda e: e.event.occurred_at)


def visits(ordered: Sequence[Entry], now: datetime) -> list[datetime]:
    """For each event (in time order), how far the timer's visit after it goes: the earliest
    arrival of any event after it, never beyond `now`."""
    out: list[datetime] = []
    bound = now
    for entry in reversed(ordered):
        out.append(bound)
        bound = min(bound, entry.arrived_at)
    return out[::-1]


def said(cycles: Iterable[Cycle]) -> set[Said]:
    """What was announced about these cycles, as their stored state shows it."""
    out: set[Said] = set()
    for c in cycles:
        if c.status is ClockOutcome.MET:
            out.add((Announce.MET, c.kind, c.cycle, 0))
        if c.status is ClockOutcome.BREACHED:
            out.add((Announce.BREACHED, c.kind, c.cycle, 0))
        if c.warned:
            out.add((Announce.WARNING, c.kind, c.cycle, 0))
        out.update((Announce.ESCALATED, c.kind, c.cycle, level) for level in range(1, c.escalation_level + 1))
    return out


def _said(note: Note) -> Said:
    return (note.what, note.cycle.kind, note.cycle.cycle, note.step.level if note.step else 0)


def rebuild(
    history: Sequence[Entry],
    r: Rules,
    *,
    now: datetime,
    apply: Apply,
    before: Iterable[Cycle] = (),
    segment: str | None = None,
) -> Ticket:
    """The ticket's clocks from `history` in time order, every cycle among `t.ended` and
    `t.clocks`, and in `t.notes` only what `before` (the cycles as stored, announced) had not
    announced yet."""
    ordered = in_time_order(history)
    first = next(e.event for e in ordered if isinstance(e.event.data, TicketRef))
    live = isinstance(first, TicketCreated) and first.data.live_session
    t = rules.from_ref(first.data, live=live)
    t.segment = segment
    for entry, until in zip(ordered, visits(ordered, now), strict=True):
        rules.begin(t, r)
        apply(t, r, entry.event)
        rules.tick(t, r, now=until)
    clock_events = [e.event.occurred_at for e in ordered if not isinstance(e.event, PLACEMENTS)]
    t.applied_until = max(clock_events, default=first.occurred_at)
    settle(t, list(before))
    return t


def settle(t: Ticket, before: Sequence[Cycle]) -> None:
    """Keep what `before` announced: drop notes already made (and a `met` after a breach), and
    mark what was announced about a cycle still open, so the timer does not make it again."""
    announced = said(before)
    breaches = {(c.kind, c.cycle): c for c in before if c.status is ClockOutcome.BREACHED}
    t.notes = [
        n
        for n in t.notes
        if _said(n) not in announced and not (n.what is Announce.MET and (n.cycle.kind, n.cycle.cycle) in breaches)
    ]

    def keep(c: Cycle) -> Cycle:
        if (Announce.WARNING, c.kind, c.cycle, 0) in announced:
            c = replace(c, warned=True)
        level = max((s[3] for s in announced if s[:3] == (Announce.ESCALATED, c.kind, c.cycle)), default=0)
        if level > c.escalation_level:
            c = replace(c, escalation_level=level)
        breach = breaches.get((c.kind, c.cycle))
        if breach is not None and c.open and c.status is not ClockOutcome.BREACHED:
            c = replace(c, status=ClockOutcome.BREACHED, breached_at=breach.breached_at, due_at=breach.due_at)
        return c

    t.ended = [keep(c) for c in t.ended]
    t.clocks = {kind: keep(c) for kind, c in t.clocks.items()}
