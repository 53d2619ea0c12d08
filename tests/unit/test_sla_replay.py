"""sla's order tolerance on its own (`clocks.replay`): a ticket's clocks rebuilt from its applied
events in time order end as they would have had the events come in that order, and nothing
announced is announced again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from tests.builders import T0, Story
from ticketloop_shared.events import ClockKind, ClockOutcome, Envelope, TicketCreated
from ticketloop_sla.clocks import replay, rules
from ticketloop_sla.clocks.replay import Entry
from ticketloop_sla.clocks.rules import Ticket
from ticketloop_sla.clocks.service import APPLY
from ticketloop_slarules.cycles import Announce, Cycle, Note
from ticketloop_slarules.policies import SPEC_ESCALATION, SPEC_PAUSES, Policy, Rules, spec_targets

MIN = timedelta(minutes=1)
K = ClockKind
R = Rules(
    policies=[
        Policy(
            id="default",
            name="default",
            position=100,
            targets=spec_targets(first_response_minutes=15),
            pauses=SPEC_PAUSES,
            escalation=SPEC_ESCALATION,
        )
    ],
    calendars={},
    version=1,
)


def apply(t: Ticket, r: Rules, event: Envelope) -> None:
    APPLY[type(event)](t, r, event)


def on_arrival(entries: Sequence[Entry], *, now: datetime) -> tuple[Ticket, list[Note]]:
    """The ticket as sla's consumer leaves it applying `entries` as they arrive, with no rebuild
    (the timer visiting as time passes), and everything it announced."""
    t: Ticket | None = None
    announced: list[Note] = []
    for entry in entries:
        event = entry.event
        if t is None:
            t = rules.from_ref(event.data, live=isinstance(event, TicketCreated) and event.data.live_session)
        rules.tick(t, R, now=entry.arrived_at)  # the timer, up to the event's arrival
        rules.begin(t, R)
        apply(t, R, event)
        rules.tick(t, R, now=entry.arrived_at)
        announced += t.notes
        t.notes = []
    assert t is not None
    rules.tick(t, R, now=now)
    announced += t.notes
    t.notes = []
    return t, announced


def every_cycle(t: Ticket) -> list[tuple[object, ...]]:
    """Each cycle of each metric, as staff see it."""
    cycles = {(c.kind, c.cycle): c for c in [*t.ended, *t.clocks.values()]}
    return sorted(
        (c.kind.value, c.cycle, c.status.value, c.started_at, c.due_at, c.stopped_at, c.breached_at)
        for c in cycles.values()
    )


def said(notes: Sequence[Note]) -> list[tuple[Announce, ClockKind, int]]:
    return [(n.what, n.cycle.kind, n.cycle.cycle) for n in notes]


def story_events(story: Story) -> list[Envelope]:
    """Reported, waiting on the customer, the customer wrote, the agent replied, resolved: all
    before the first deadline (the acknowledgement's, 10 minutes)."""
    return [
        story.created(),
        story.status_changed(T0 + 1 * MIN, "new", "waiting_on_customer", action="wait"),
        story.message_received(T0 + 2 * MIN),
        story.replied(T0 + 3 * MIN),
        story.resolved(T0 + 6 * MIN, first_response_at=T0 + 3 * MIN),
    ]


def arriving(events: Sequence[Envelope], *, late: int | None = None, at: datetime | None = None) -> list[Entry]:
    """Each event arriving a second after it happened, except the `late`th, arriving at `at`
    (after the others)."""
    entries = [Entry(e, e.occurred_at + timedelta(seconds=1)) for e in events]
    if late is not None:
        assert at is not None
        entries.append(replace(entries.pop(late), arrived_at=at))
    return entries


def test_the_timer_visits_up_to_the_first_arrival_of_a_later_event_and_never_beyond_now() -> None:
    story = Story()
    a, b, c = story.created(), story.replied(T0 + 5 * MIN), story.resolved(T0 + 9 * MIN)
    ordered = [Entry(a, T0 + 1 * MIN), Entry(b, T0 + 30 * MIN), Entry(c, T0 + 10 * MIN)]
    assert replay.visits(ordered, T0 + 60 * MIN) == [T0 + 10 * MIN, T0 + 10 * MIN, T0 + 60 * MIN]
    assert replay.visits(ordered, T0 + 5 * MIN) == [T0 + 5 * MIN] * 3


def test_events_are_taken_in_the_order_they_happened_ties_in_the_order_applied() -> None:
    story = Story()
    first, second = story.replied(T0 + 5 * MIN), story.updated(T0 + 5 * MIN)
    created = story.created()
    history = [Entry(first, T0), Entry(created, T0), Entry(second, T0)]
    assert [e.event for e in replay.in_time_order(history)] == [created, first, second]


def test_a_late_event_leaves_the_clocks_as_if_the_events_had_come_in_time_order() -> None:
    now = T0 + 3 * 60 * MIN
    events = story_events(Story())
    in_order, _ = on_arrival(arriving(events), now=now)
    for late in range(len(events)):
        history = arriving(events, late=late, at=T0 + 7 * MIN)  # after all the others
        rebuilt = replay.rebuild(history, R, now=now, apply=apply)
        assert every_cycle(rebuilt) == every_cycle(in_order), events[late].type


def first_response(t: Ticket) -> Cycle:
    return next(c for c in [*t.ended, *t.clocks.values()] if c.kind is K.FIRST_RESPONSE)


def test_a_reply_overtaken_by_the_wait_before_it_is_still_in_time() -> None:
    """The wait arrives after the first-response deadline, older than the reply that met the
    clock in time: the rebuild does not turn the met clock into a breach."""
    events = story_events(Story())
    history = arriving(events, late=1, at=T0 + 20 * MIN)
    rebuilt = replay.rebuild(history, R, now=T0 + 20 * MIN, apply=apply)
    assert first_response(rebuilt).status is ClockOutcome.MET


def test_a_reply_that_arrives_after_the_deadline_stays_a_breach() -> None:
    """The reply happened in time but sla learned of it after the deadline, when it had
    announced the breach (as it would have with the events in time order); had the resolution,
    which says when the first response was, come before the deadline, it would be met."""
    events = story_events(Story())[:4]  # not resolved yet
    history = arriving(events, late=3, at=T0 + 20 * MIN)
    rebuilt = replay.rebuild(history, R, now=T0 + 20 * MIN, apply=apply)
    assert (first_response(rebuilt).status, first_response(rebuilt).breached_at) == (
        ClockOutcome.BREACHED,
        T0 + 15 * MIN,
    )


def test_a_rebuild_announces_only_what_was_not_announced() -> None:
    """The ticket as its events arrived (the creation last), then rebuilt: what the rebuild
    adds to the announcements is only what the in-order ticket announced and the other did
    not, each once."""
    now = T0 + 3 * 60 * MIN
    events = story_events(Story())
    _, expected = on_arrival(arriving(events), now=now)
    history = arriving(events, late=0, at=now)  # the creation arrives last
    stored, announced = on_arrival(history[:-1], now=now)
    rebuilt = replay.rebuild(
        history, R, now=now, apply=apply, before=[*stored.ended, *stored.clocks.values()], segment=None
    )
    again = set(said(announced)) & set(said(rebuilt.notes))
    assert not again
    assert len(said(rebuilt.notes)) == len(set(said(rebuilt.notes)))
    assert {s for s in said(expected) if s[0] is Announce.BREACHED} <= set(said(announced + rebuilt.notes))


def _cycle(status: ClockOutcome, **kw: object) -> Cycle:
    base = Cycle(
        kind=K.RESOLUTION,
        cycle=1,
        status=status,
        started_at=T0,
        target_seconds=3600,
        calendar="24x7",
        resumed_at=T0,
        due_at=T0 + 60 * MIN,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_an_announced_breach_stands_on_a_cycle_still_open_and_no_met_follows_it() -> None:
    story = Story()
    t = rules.from_ref(story.created().data)
    breached = _cycle(ClockOutcome.BREACHED, breached_at=T0 + 60 * MIN, warned=True, escalation_level=2)
    t.clocks = {K.RESOLUTION: _cycle(ClockOutcome.RUNNING, due_at=T0 + 90 * MIN)}
    t.notes = [Note(Announce.WARNING, t.clocks[K.RESOLUTION], T0 + 67 * MIN)]
    replay.settle(t, [breached])
    kept = t.clocks[K.RESOLUTION]
    assert (kept.status, kept.breached_at, kept.warned, kept.escalation_level) == (
        ClockOutcome.BREACHED,
        T0 + 60 * MIN,
        True,
        2,
    )
    assert t.notes == []

    met = _cycle(ClockOutcome.MET, stopped_at=T0 + 70 * MIN)
    t.clocks = {K.RESOLUTION: met}
    t.notes = [Note(Announce.MET, met, T0 + 70 * MIN)]
    replay.settle(t, [breached])
    assert t.notes == []
    assert t.clocks[K.RESOLUTION] == replace(met, warned=True, escalation_level=2)  # ended: the time-order outcome
