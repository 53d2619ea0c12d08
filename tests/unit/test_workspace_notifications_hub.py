"""The hub: per-audience buffers, exact resume after a notification id, bounded memory, and a slow
browser let go rather than held in memory. Also the tailer's start-up read, without a broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.builders import Story
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import ClockKind, EscalationTarget
from ticketloop_shared.settings import PlatformSettings
from ticketloop_workspace.notifications.consumer import Tailer
from ticketloop_workspace.notifications.domain import (
    Audience,
    Kind,
    Notification,
    TicketBook,
    TicketFacts,
    notifications_for,
)
from ticketloop_workspace.notifications.hub import Hub
from ticketloop_workspace.notifications.settings import LiveSettings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ANNA = Audience.person("agent-anna")
BEN = Audience.person("agent-ben")
SALES_STAFF = Audience.staff("after_sales")
SALES_SUPERVISORS = Audience.supervisors("after_sales")


def make_hub(*, buffer_size: int = 500, queue_size: int = 100, clock: FrozenClock | None = None) -> Hub:
    window = timedelta(minutes=15)
    return Hub(buffer_size=buffer_size, window=window, queue_size=queue_size, clock=clock or FrozenClock(NOW))


def assignment(owner: str = "agent-anna", *, at: datetime = NOW, story: Story | None = None) -> list[Notification]:
    story = story or Story()
    return notifications_for(story.assigned(at, owner), TicketFacts(number=story.number))


def ids(notes: list[Notification]) -> list[str]:
    return [n.id for n in notes]


def drain(queue: asyncio.Queue[Notification]) -> list[Notification]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_connection_gets_what_is_addressed_to_its_audiences_only() -> None:
    hub = make_hub()
    anna = hub.subscribe((ANNA, SALES_STAFF))
    ben = hub.subscribe((BEN,))
    mine = assignment("agent-anna")
    hub.publish(mine)
    hub.publish(assignment("agent-carl"))
    assert ids(drain(anna.queue)) == ids(mine)
    assert drain(ben.queue) == []


async def test_one_event_reaches_a_person_once_through_its_most_specific_audience() -> None:
    hub = make_hub()
    story = Story()
    queued = TicketFacts(number=story.number, department_id="after_sales", queued=True)
    notes = notifications_for(story.assigned(NOW, "agent-anna"), queued)  # anna: assigned; staff: queued
    anna = hub.subscribe((ANNA, SALES_STAFF))
    colleague = hub.subscribe((BEN, SALES_STAFF))
    hub.publish(notes)
    assert [n.kind for n in drain(anna.queue)] == [Kind.ASSIGNED]
    assert [n.kind for n in drain(colleague.queue)] == [Kind.QUEUED]
    # The same choice on resume: Anna's backlog after an earlier notification holds one entry.
    earlier = assignment("agent-anna")
    hub2 = make_hub()
    hub2.publish(earlier)
    hub2.publish(notes)
    resumed = hub2.subscribe((ANNA, SALES_STAFF), earlier[0].id)
    assert [n.kind for n in resumed.backlog] == [Kind.ASSIGNED]


async def test_a_reconnect_resumes_exactly_after_the_last_id_seen() -> None:
    hub = make_hub()
    first = hub.subscribe((ANNA,))
    batches = [assignment() for _ in range(5)]
    for notes in batches:
        hub.publish(notes)
    seen = drain(first.queue)
    hub.unsubscribe(first)
    assert len(seen) == 5
    resumed = hub.subscribe((ANNA,), seen[1].id)
    assert ids(resumed.backlog) == ids(seen[2:])
    assert not resumed.resync
    assert hub.subscribe((ANNA,), seen[-1].id).backlog == []


async def test_resume_follows_arrival_order_even_when_an_older_event_arrives_late() -> None:
    hub = make_hub()
    late = assignment(at=NOW - timedelta(seconds=5))  # built first: its event id sorts first
    early = assignment()
    hub.publish(early)
    hub.publish(late)
    after_early = hub.subscribe((ANNA,), early[0].id)
    assert ids(after_early.backlog) == ids(late)


async def test_an_id_no_longer_held_resumes_with_everything_newer_and_asks_for_a_resync() -> None:
    hub = make_hub(buffer_size=3)
    batches = [assignment() for _ in range(6)]
    for notes in batches:
        hub.publish(notes)
    assert len(hub.held(ANNA)) == 3  # the buffer is bounded
    resumed = hub.subscribe((ANNA,), batches[1][0].id)  # pushed out
    assert ids(resumed.backlog) == [b[0].id for b in batches[3:]]
    assert resumed.resync
    garbage = hub.subscribe((ANNA,), "no-such-id")
    assert garbage.backlog == [] and garbage.resync


async def test_no_last_id_means_only_what_arrives_from_now_on() -> None:
    hub = make_hub()
    hub.publish(assignment())
    sub = hub.subscribe((ANNA,))
    assert sub.backlog == [] and not sub.resync


async def test_a_redelivered_event_is_neither_kept_nor_sent_twice() -> None:
    hub = make_hub()
    sub = hub.subscribe((ANNA,))
    notes = assignment()
    assert hub.publish(notes) == 1
    assert hub.publish(notes) == 0
    assert len(drain(sub.queue)) == 1
    assert len(hub.held(ANNA)) == 1


async def test_notifications_older_than_the_window_are_not_kept_and_pruning_frees_audiences() -> None:
    clock = FrozenClock(NOW)
    hub = make_hub(clock=clock)
    assert hub.publish(assignment(at=NOW - timedelta(minutes=16))) == 0
    hub.publish(assignment())
    hub.publish(assignment("agent-ben"))
    assert hub.size == 2
    clock.set(NOW + timedelta(minutes=16))
    hub.prune()
    assert hub.size == 0 and hub.held(ANNA) == [] and hub.held(BEN) == []


async def test_a_slow_browser_is_let_go_instead_of_growing_memory() -> None:
    hub = make_hub(queue_size=3)
    slow = hub.subscribe((ANNA,))
    fast = hub.subscribe((ANNA,))
    batches = [assignment() for _ in range(5)]
    for i, notes in enumerate(batches):
        hub.publish(notes)
        drain(fast.queue)
        assert fast.queue.qsize() == 0, i
    assert slow.dropped and slow.queue.qsize() == 3
    assert hub.connections == 1 and hub.dropped_connections == 1
    # It still writes what it was given, then its stream ends …
    given = [await slow.next(0.1) for _ in range(3)]
    assert await slow.next(1.0) is None
    # … and the browser resumes from the buffer after the last one it got: nothing lost.
    last = given[-1]
    assert last is not None
    resumed = hub.subscribe((ANNA,), last.id)
    assert ids(resumed.backlog) == [b[0].id for b in batches[3:]]


async def test_next_times_out_with_none_when_nothing_arrives() -> None:
    hub = make_hub()
    sub = hub.subscribe((ANNA,))
    assert await sub.next(0.01) is None


async def test_supervisor_escalations_reach_supervisors_of_the_department_only() -> None:
    hub = make_hub()
    story = Story()
    sales_sup = hub.subscribe((Audience.person("sup-1"), SALES_SUPERVISORS, SALES_STAFF))
    billing_sup = hub.subscribe((Audience.person("sup-2"), Audience.supervisors("billing"), Audience.staff("billing")))
    agent = hub.subscribe((ANNA, SALES_STAFF))
    event = story.escalated(ClockKind.RESOLUTION, NOW, level=2, notify=EscalationTarget.SUPERVISOR)
    hub.publish(notifications_for(event, None))
    assert [n.kind for n in drain(sales_sup.queue)] == [Kind.ESCALATION]
    assert drain(billing_sup.queue) == [] and drain(agent.queue) == []


def make_tailer(clock: FrozenClock) -> tuple[Tailer, Hub]:
    settings = LiveSettings(live_window_seconds=900)
    hub = make_hub(clock=clock)
    tailer = Tailer(platform=PlatformSettings(), settings=settings, hub=hub, book=TicketBook(1000), clock=clock)
    return tailer, hub


async def test_the_start_up_read_learns_old_owners_keeps_only_the_window_and_publishes_in_event_order() -> None:
    clock = FrozenClock(NOW)
    tailer, hub = make_tailer(clock)
    old, fresh = Story(), Story()
    # Read from the topics' beginning: an owner from yesterday, then a message within the window.
    tailer.take(old.created())
    tailer.take(old.assigned(NOW - timedelta(days=1), "agent-anna"))
    tailer.take(fresh.created())
    tailer.take(fresh.assigned(NOW - timedelta(minutes=2), "agent-anna"))
    message = old.message_received(NOW - timedelta(minutes=1))
    tailer.take(message)
    assert hub.size == 0 and not hub.ready.is_set()  # held until the read is done
    tailer._finish_rebuild()
    assert hub.ready.is_set() and tailer.caught_up
    held = hub.held(ANNA)
    assert [n.kind for n in held] == [Kind.ASSIGNED, Kind.CUSTOMER_MESSAGE]
    assert held[1].ticket_number == old.number
    assert [n.event_id for n in held] == sorted(n.event_id for n in held)
    # From now on notifications go straight to the browsers.
    sub = hub.subscribe((ANNA,))
    tailer.take(fresh.message_received(NOW))
    assert [n.kind for n in drain(sub.queue)] == [Kind.CUSTOMER_MESSAGE]
