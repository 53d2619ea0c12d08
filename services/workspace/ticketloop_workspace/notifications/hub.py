"""The notifications of the last few minutes, per audience, and the live connections they fan out to.

Memory stays bounded whatever the load: each audience keeps at most `buffer_size` notifications
of the last `window`, and each connection at most `queue_size` undelivered ones. A browser that
falls that far behind is let go (its stream ends after what it was already given) and comes back
with `Last-Event-ID`, resuming from the buffer; the hub never holds more for it.

Resume is exact: notifications carry a sequence number in the order this process took them in,
and a reconnecting browser gets every one after the one it names, in that order. After a
restart the buffer is rebuilt in event-time order (the best guess of the order a browser saw);
when the named notification is no longer held (older than the window, or pushed out), the
browser gets everything held that is newer than it and is told to `resync` (reload its live
regions), since something older may be gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from ticketloop_shared.clock import Clock, SystemClock
from ticketloop_workspace.notifications.domain import Audience, Notification, event_id_of


@dataclass(slots=True)
class _Entry:
    seq: int
    note: Notification


class _Buffer:
    """One audience's recent notifications, oldest first, with an index by id."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: deque[_Entry] = deque()
        self.by_id: dict[str, _Entry] = {}

    def add(self, entry: _Entry) -> None:
        self.entries.append(entry)
        self.by_id[entry.note.id] = entry
        while len(self.entries) > self.size:
            self._drop_oldest()

    def prune(self, cutoff_seconds: float) -> None:
        # Entries are in arrival order and event times nearly so: stopping at the first recent
        # one may keep a few stale ones a little longer, never drop a recent one early.
        while self.entries and self.entries[0].note.at.timestamp() < cutoff_seconds:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        old = self.entries.popleft()
        self.by_id.pop(old.note.id, None)


class Subscription:
    """One live connection: the backlog it resumes with, then what arrives, through a bounded queue."""

    def __init__(self, audiences: tuple[Audience, ...], queue_size: int) -> None:
        self.audiences = audiences
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self.backlog: list[Notification] = []
        # The resume could not be proven exact: the browser should reload its live regions.
        self.resync = False
        # Fell `queue_size` behind: the stream ends once the queue is drained.
        self.dropped = False

    def offer(self, note: Notification) -> None:
        """Queue `note` for the browser, or let the browser go if it is too far behind."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(note)
        except asyncio.QueueFull:
            self.dropped = True

    async def next(self, timeout: float) -> Notification | None:
        """The next notification, or None after `timeout` seconds (or at once when dropped and drained)."""
        if self.dropped and self.queue.empty():
            return None
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 the latter can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(timeout, 0.0)):
                return await self.queue.get()
        return None


class Hub:
    """Per-audience buffers and the live connections, for one workspace process."""

    def __init__(self, *, buffer_size: int, window: timedelta, queue_size: int, clock: Clock | None = None) -> None:
        self.buffer_size = buffer_size
        self.window = window
        self.queue_size = queue_size
        self.clock: Clock = clock or SystemClock()
        self._buffers: dict[Audience, _Buffer] = {}
        self._subscribers: dict[Audience, set[Subscription]] = {}
        self._seq = 0
        # Set once the tailer has read the topics up to where they stood at its start.
        self.ready = asyncio.Event()
        self.published = 0
        self.dropped_connections = 0

    def publish(self, notes: Sequence[Notification]) -> int:
        """Keep and fan out one event's notifications (most specific audience first): each
        connection gets the first one addressed to it. Ones already held (a redelivered event)
        and ones older than the window are ignored. Returns how many were new."""
        cutoff = self._cutoff()
        fresh = [n for n in notes if n.at.timestamp() >= cutoff and not self._holds(n)]
        told: set[Subscription] = set()
        for note in fresh:
            self._seq += 1
            buffer = self._buffers.get(note.audience)
            if buffer is None:
                buffer = self._buffers[note.audience] = _Buffer(self.buffer_size)
            buffer.add(_Entry(self._seq, note))
            for sub in tuple(self._subscribers.get(note.audience, ())):
                if sub in told:
                    continue
                told.add(sub)
                sub.offer(note)
                if sub.dropped:
                    self.dropped_connections += 1
                    self.unsubscribe(sub)
        self.published += len(fresh)
        return len(fresh)

    def subscribe(self, audiences: tuple[Audience, ...], last_event_id: str | None = None) -> Subscription:
        """A live connection for someone in `audiences`, resuming after `last_event_id` (None: only
        what arrives from now on). Backlog and registration happen without a pause in between, so
        nothing falls in the gap."""
        sub = Subscription(audiences, self.queue_size)
        if last_event_id:
            sub.backlog, sub.resync = self._after(audiences, last_event_id)
        for audience in audiences:
            self._subscribers.setdefault(audience, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a connection (idempotent)."""
        for audience in sub.audiences:
            subs = self._subscribers.get(audience)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[audience]

    def prune(self) -> None:
        """Drop what is older than the window, and the audiences left with nothing."""
        cutoff = self._cutoff()
        for audience in list(self._buffers):
            buffer = self._buffers[audience]
            buffer.prune(cutoff)
            if not buffer.entries:
                del self._buffers[audience]

    def held(self, audience: Audience) -> list[Notification]:
        """What is kept for `audience`, oldest first (for tests and diagnostics)."""
        buffer = self._buffers.get(audience)
        return [e.note for e in buffer.entries] if buffer else []

    @property
    def connections(self) -> int:
        """Live connections now."""
        return len({s for subs in self._subscribers.values() for s in subs})

    @property
    def size(self) -> int:
        """Notifications held, all audiences together."""
        return sum(len(b.entries) for b in self._buffers.values())

    def _cutoff(self) -> float:
        return (self.clock.now() - self.window).timestamp()

    def _holds(self, note: Notification) -> bool:
        buffer = self._buffers.get(note.audience)
        return buffer is not None and note.id in buffer.by_id

    def _after(self, audiences: tuple[Audience, ...], last_event_id: str) -> tuple[list[Notification], bool]:
        buffers = [b for a in audiences if (b := self._buffers.get(a)) is not None]
        cutoff = self._cutoff()
        entries = sorted(
            (e for b in buffers for e in b.entries if e.note.at.timestamp() >= cutoff), key=lambda e: e.seq
        )
        anchor = next((b.by_id[last_event_id] for b in buffers if last_event_id in b.by_id), None)
        told = set()
        if anchor is not None:
            later = [e for e in entries if e.seq > anchor.seq]
            told.add(anchor.note.event_id)
            resync = False
        else:
            seen = event_id_of(last_event_id)
            later = [] if seen is None else [e for e in entries if e.note.event_id > seen]
            resync = True
        backlog = []
        for entry in later:
            if entry.note.event_id not in told:
                told.add(entry.note.event_id)
                backlog.append(entry.note)
        return backlog, resync
