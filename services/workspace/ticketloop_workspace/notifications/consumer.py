"""The tailer: reads the ticket, sla and care topics and turns each event into notifications.

Every workspace replica must see every event (a person's browser may be connected to any of
them), so it joins no consumer group and commits nothing: it assigns itself every partition and
keeps its positions in memory. At start it reads the topics from their beginning, learning who
owns each open ticket, and keeps only the notifications of the last `live_window_seconds`, so a
browser reconnecting to a restarted workspace still resumes. (Tansu answers a time-based offset
lookup with offset 0 whatever the time, so the window is applied to each event's own time rather
than asked of the broker; the cost of a start grows with the retained log, not with the window.)

A redelivered event (a broker replacement republishes the producers' outbox window) makes the
same notification ids, which the hub already holds; an event older than the window makes none.
A broker outage leaves the client retrying; a broken session is rebuilt with backoff from the
positions reached, and the process never stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from ticketloop_shared.cancellation import stop_if_cancelled
from ticketloop_shared.clock import Clock, SystemClock
from ticketloop_shared.events.catalog import AnyEvent, EventType, parse_event
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.messaging.kafka import FetchWait, adapt_fetch_wait, ensure_topics
from ticketloop_shared.settings import PlatformSettings
from ticketloop_workspace.notifications.domain import Notification, TicketBook, notifications_for
from ticketloop_workspace.notifications.hub import Hub
from ticketloop_workspace.notifications.settings import LiveSettings

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

FAMILIES = ("ticket", "sla", "care")
# The types that notify someone or teach the book who owns a ticket; the rest are skipped
# before being parsed (most of the traffic: replies, status changes, met clocks…).
WANTED = frozenset(
    t.value
    for t in (
        EventType.TICKET_CREATED,
        EventType.TICKET_ASSIGNED,
        EventType.TICKET_REASSIGNED,
        EventType.TICKET_QUEUED,
        EventType.TICKET_CLOSED,
        EventType.TICKET_REOPENED,
        EventType.TICKET_MESSAGE_RECEIVED,
        EventType.TICKET_REPEAT_CONTACT,
        EventType.SLA_WARNING,
        EventType.SLA_BREACHED,
        EventType.SLA_ESCALATED,
        EventType.CARE_WAIT_EXCEEDED,
    )
)
PRUNE_EVERY_SECONDS = 30.0
# How long the broker may hold an empty fetch of the tailer (an event still arrives at once).
TAIL_FETCH_WAIT_MS = 250
# A poll that finds nothing this long after joining means the start-up read is done, even when
# the end offsets noted at start were never reached (the broker was replaced meanwhile).
IDLE_MEANS_CAUGHT_UP_SECONDS = 2.0


class Tailer:
    """Feeds the hub from the topics, in every replica, from the beginning at each start."""

    def __init__(
        self,
        *,
        platform: PlatformSettings,
        settings: LiveSettings,
        hub: Hub,
        book: TicketBook,
        clock: Clock | None = None,
        client_id: str = "workspace-live",
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.hub = hub
        self.book = book
        self.clock: Clock = clock or SystemClock()
        self.client_id = client_id
        self.topics = [Topics(platform.topic_prefix).for_family(f) for f in FAMILIES]
        self.window = timedelta(seconds=settings.live_window_seconds)
        self.connected = asyncio.Event()
        # The current session's consumer (None between sessions): what its fetches wait is read from it.
        self.consumer: AIOKafkaConsumer | None = None
        self.handled = 0
        self.skipped = 0
        self._positions: dict[TopicPartition, int] = {}
        # The end of each partition when this process started, and the start-up read's
        # notifications, held until it gets there (then published in event-time order).
        self._targets: dict[TopicPartition, int] | None = None
        self._rebuilt: list[list[Notification]] | None = []
        self._owners_read = False
        self._task: asyncio.Task[None] | None = None

    @property
    def caught_up(self) -> bool:
        """The start-up read is done: notifications go to browsers as they arrive."""
        return self._rebuilt is None

    def start(self) -> None:
        """Run in the background until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="workspace-live-tailer")

    async def stop(self) -> None:
        """Stop reading (the buffers stay as they are)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Tail until cancelled; a broken session is rebuilt with backoff from where it was."""
        delay = self.settings.live_reconnect_seconds
        while True:
            try:
                await self._session()
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("live notifications: broker session failed; reconnecting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.live_reconnect_max_seconds)
            else:
                delay = self.settings.live_reconnect_seconds

    async def _session(self) -> None:
        await ensure_topics(self.platform, self.topics, attempts=3)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.platform.kafka_bootstrap,
            group_id=None,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The broker holds an empty fetch this long while events flow (each replica reads
            # every partition of three topics; the idle stack measured 87 % of a core with the
            # platform's 25 ms here), and the platform's idle wait after a quiet spell (see
            # `FetchWait`): its four fetches a second at idle were a third of the broker's.
            fetch_max_wait_ms=self._short_wait_ms(),
            max_poll_records=500,
        )
        self.consumer = consumer
        try:
            await consumer.start()
            partitions = await self._partitions(consumer)
            if self._targets is None:
                consumer.assign(partitions)
                self._targets = await consumer.end_offsets(partitions)
            # The start-up read takes the ticket topic first, so the owners are known before
            # the SLA facts about their tickets are read.
            tickets = [tp for tp in partitions if tp.topic == self.topics[0]]
            await self._assign(consumer, partitions if self._owners_read else tickets)
            self.connected.set()
            loop = asyncio.get_running_loop()
            joined = last_prune = loop.time()
            fetch_wait = FetchWait(
                short_ms=self._short_wait_ms(),
                long_ms=self.platform.kafka_idle_fetch_max_wait_ms,
                idle_after=self.platform.kafka_idle_after_seconds,
                now=loop.time(),
            )
            while True:
                batches = await consumer.getmany(timeout_ms=max(500, fetch_wait.current_ms))
                adapt_fetch_wait(consumer, fetch_wait, bool(batches), loop.time())
                # Within a batch too, the ticket topic goes first.
                for tp, records in sorted(batches.items(), key=lambda item: item[0].topic != self.topics[0]):
                    for record in records:
                        self._take(record)
                    self._positions[tp] = records[-1].offset + 1
                idle = not batches and loop.time() - joined >= IDLE_MEANS_CAUGHT_UP_SECONDS
                if not self._owners_read and (idle or self._reached_targets(tickets)):
                    self._owners_read = True
                    await self._assign(consumer, partitions)
                    joined = loop.time()
                elif self._rebuilt is not None and self._owners_read and (idle or self._reached_targets(partitions)):
                    self._finish_rebuild()
                if loop.time() - last_prune >= PRUNE_EVERY_SECONDS:
                    self.hub.prune()
                    last_prune = loop.time()
        finally:
            self.connected.clear()
            self.consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _short_wait_ms(self) -> int:
        return max(self.platform.kafka_fetch_max_wait_ms, TAIL_FETCH_WAIT_MS)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer.topics()  # fetches the cluster's metadata
        found: list[TopicPartition] = []
        for topic in self.topics:
            numbers = consumer.partitions_for_topic(topic)
            if not numbers:
                raise RuntimeError(f"topic {topic} has no partitions yet")
            found += [TopicPartition(topic, n) for n in sorted(numbers)]
        return found

    async def _assign(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Read `partitions`, each from where this process got to (or its beginning)."""
        consumer.assign(partitions)
        for tp in partitions:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
            else:
                await consumer.seek_to_beginning(tp)

    def _reached_targets(self, partitions: list[TopicPartition]) -> bool:
        targets = self._targets or {}
        return all(self._positions.get(tp, 0) >= targets.get(tp, 0) for tp in partitions)

    def _finish_rebuild(self) -> None:
        rebuilt, self._rebuilt = self._rebuilt or [], None
        rebuilt.sort(key=lambda notes: notes[0].event_id)
        for notes in rebuilt:
            self.hub.publish(notes)
        self.hub.ready.set()
        log.info(
            "live notifications: caught up with the topics",
            extra={"tickets": len(self.book), "notifications": self.hub.size},
        )

    def _take(self, record: Record) -> None:
        event = _decode(record.value)
        if event is None:
            self.skipped += 1
            return
        self.take(event)

    def take(self, event: AnyEvent) -> list[Notification]:
        """Learn from one event and publish what it owes (held back during the start-up read)."""
        self.handled += 1
        ticket_id = getattr(event.data, "ticket_id", None)
        known = self.book.get(ticket_id) if ticket_id is not None else None
        notes = notifications_for(event, known)
        self.book.learn(event)
        if not notes or event.time < self.clock.now() - self.window:
            return []
        if self._rebuilt is not None:
            self._rebuilt.append(notes)
        else:
            self.hub.publish(notes)
        return notes


def _decode(value: bytes | None) -> AnyEvent | None:
    """The typed event of a record worth reading, or None (another type, or not an event: every
    service parks what it cannot read; a notifier just does without)."""
    if not value:
        return None
    try:
        raw: Any = json.loads(value)
        if not isinstance(raw, dict) or raw.get("type") not in WANTED:
            return None
        return parse_event(raw)
    except (ValueError, ValidationError):
        log.debug("live notifications: unreadable record skipped")
        return None
