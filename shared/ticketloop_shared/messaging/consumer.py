"""The idempotent event consumer every service runs: one consumer group per service, a whole
poll batch applied in one transaction with one inbox statement, and the offsets committed after
the database commit.

Failures are sorted, never guessed:
- a dependency outage (database or broker down) is transient: the consumer keeps the batch,
  reports itself not ready and retries with backoff for as long as it takes, then resumes where
  it was; nothing is parked;
- anything else in a batch makes the consumer re-apply that batch one event per transaction,
  so one poison event cannot hold back the others; an event that is undecodable, invalid,
  rejected by a rule, or failing after capped retries on a healthy database is parked
  (`deadletter.py`) and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from opentelemetry.trace import Span
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared import tracing
from ticketloop_shared.cancellation import stop_if_cancelled
from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events.catalog import AnyEvent, parse_event
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.faults import is_transient
from ticketloop_shared.messaging.deadletter import Letter, park
from ticketloop_shared.messaging.inbox import claim_many
from ticketloop_shared.messaging.kafka import FetchWait, adapt_fetch_wait, make_consumer
from ticketloop_shared.metrics import (
    CONSUMER_LAG,
    CONSUMER_PARTITIONS,
    CONSUMER_PAUSED,
    DEADLETTERS_PARKED,
    EVENTS_CONSUMED,
    HANDLER_RETRIES,
    OFFSET_RESETS,
)
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.unit_of_work import BatchHandler, Handler, UnitOfWork

log = logging.getLogger(__name__)
# How long a consumer losing partitions in a rebalance spends committing what it applied of
# them since its last commit; past it, the next owner re-reads those records (the inbox drops them).
COMMIT_ON_LEAVE_SECONDS = 2.0

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
UowFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork[Any]]]
# The event types a consumer wants right now, asked once per poll batch with a session of its
# database (the service caches the answer); the rest of what it subscribes to is skipped
# undecoded.
Interest = Callable[[AsyncSession], Awaitable[Collection[str]]]

# How long a partition may have work waiting without the consumer moving before it rejoins its
# group (a fresh fetch state); readiness reports it meanwhile. A second time in a row, the
# lagging partitions are read again from their start (the inbox drops what was handled).
STUCK_AFTER_SECONDS = 30.0
# After a broker replacement, assignments within this long are read from their start (the
# second republish pass comes 20 s after the replacement is noticed).
REREAD_AFTER_RESET_SECONDS = 45.0


@dataclass
class _Item:
    """One record of a batch: decoded and typed, or already known to be poison."""

    record: Record
    event: AnyEvent | None = None
    handler: Handler | None = None
    poison: str | None = None
    event_type: str = "unknown"


class EventConsumer:
    """Consumes the topics its handlers need and applies each event exactly once in effect."""

    def __init__(
        self,
        *,
        service: str,
        settings: PlatformSettings,
        handlers: Mapping[str, Handler],
        unit_of_work: UowFactory,
        inbox: Table,
        dead_letters: Table,
        producer: AIOKafkaProducer,
        batch_size: int = 200,
        group_id: str | None = None,
        client_id: str | None = None,
        replica: str = "",
        interest: Interest | None = None,
        dedup: bool = True,
        cluster_id: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.service = service
        self.replica = replica or service
        self.settings = settings
        self.handlers = dict(handlers)
        self.unit_of_work = unit_of_work
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.producer = producer
        self.batch_size = batch_size
        self.topics = Topics(settings.topic_prefix)
        self.group_id = group_id or f"{settings.topic_prefix}.{service}"
        self.client_id = client_id or f"{service}-consumer"
        self.subscribed_topics = sorted({self.topics.for_type(t) for t in self.handlers})
        self._consumer: AIOKafkaConsumer | None = None
        self._restart = asyncio.Event()
        self.handled = 0
        self.parked = 0
        self.started = asyncio.Event()
        self.paused_for: str | None = None
        self.lag: dict[str, int] = {}
        self._partitions = CONSUMER_PARTITIONS.labels(service, self.replica)
        self._last_progress = 0.0
        self._last_check = 0.0
        self._stuck_restarts = 0
        self._reread_until = 0.0
        # Next offsets of what was applied (committed in the database) but not yet committed to
        # the group: see `kafka_commit_interval_ms`.
        self._uncommitted: dict[TopicPartition, int] = {}
        # Who the broker is (its cluster id), asked when the session starts and again before a
        # deferred commit: offsets read from a broker since replaced must not be committed to
        # the new one (its log is another; a member joining there would skip what lies below
        # them). None: not asked (a consumer outside a service runtime, as in tests).
        self.cluster_id = cluster_id
        self._cluster: str | None = None
        # Without an interest, every type it has a handler for is wanted.
        self.interest = interest
        self._interested: frozenset[str] | None = None
        # False: no inbox row per event; the handlers are idempotent by keys of their own.
        self.dedup = dedup

    def assignment(self) -> set[TopicPartition]:
        """Partitions this member currently owns."""
        return set(self._consumer.assignment()) if self._consumer else set()

    def restart(self) -> None:
        """Leave and rejoin with no remembered positions (the broker was replaced).

        Before a replacement is noticed, a member may already have carried its positions from the
        old log over to the new one (fetching and committing there): once the republished window
        has made the new log longer than those positions, nothing looks wrong, yet every record
        below them would be skipped. So for a while every partition assigned is read again from
        its start, whatever offset the group committed; the inbox makes the repeats no-ops.
        """
        self._reread_until = asyncio.get_running_loop().time() + REREAD_AFTER_RESET_SECONDS
        self._restart.set()

    def problems(self) -> dict[str, str]:
        """Why this consumer is not ready: not joined, waiting for a dependency, or stuck."""
        if not self.started.is_set():
            return {"consumer": "not yet joined its group"}
        if self.paused_for is not None:
            return {"consumer": f"paused: {self.paused_for}"}
        if self._stuck():
            return {"consumer": f"stuck: lag {sum(self.lag.values())} and no progress for {STUCK_AFTER_SECONDS:.0f}s"}
        return {}

    def _stuck(self) -> bool:
        loop = asyncio.get_running_loop()
        return sum(self.lag.values()) > 0 and loop.time() - self._last_progress > STUCK_AFTER_SECONDS

    async def run(self) -> None:
        """Consume until cancelled; if the connection breaks, reconnect with backoff."""
        delay = self.settings.consumer_backoff_seconds
        while True:
            try:
                await self._consume()
                delay = self.settings.consumer_backoff_seconds
            except Exception as exc:
                stop_if_cancelled(exc)
                self.started.clear()
                log.warning("consumer failed; reconnecting", extra={"group": self.group_id, "error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)

    async def _consume(self) -> None:
        """One consumer session, until it breaks or a restart is asked for."""
        consumer = make_consumer(
            self.settings, group_id=self.group_id, client_id=self.client_id, max_poll_records=self.batch_size
        )
        consumer.subscribe(self.subscribed_topics, listener=_RereadAfterReset(self, consumer))
        self._consumer = consumer
        self._restart.clear()
        self.forget_partitions(set())
        try:
            # Inside the try: a service stopped while this joins its group still closes it.
            await consumer.start()
            self._cluster = await self._ask_cluster()
            self.started.set()
            self._last_progress = asyncio.get_running_loop().time()
            fetch_wait = self._fetch_wait()
            loop = asyncio.get_running_loop()
            interval = self.settings.kafka_commit_interval_ms / 1000
            last_commit = loop.time()
            while not self._restart.is_set():
                stop_if_cancelled()
                # Idle, the loop wakes as often as the fetches come back, not twice a second.
                batches = await consumer.getmany(timeout_ms=max(500, fetch_wait.current_ms))
                # Records of which nothing is wanted (a side consumer whose interest is empty:
                # no admin webhook endpoint) count as none: it fetches at the idle pace.
                adapt_fetch_wait(consumer, fetch_wait, bool(batches) and self._interested != frozenset(), loop.time())
                if batches:
                    await self.process_batch([r for records in batches.values() for r in records])
                    self._last_progress = loop.time()
                    self._stuck_restarts = 0
                    self._uncommitted.update({tp: records[-1].offset + 1 for tp, records in batches.items()})
                if self._uncommitted and (not batches or loop.time() - last_commit >= interval):
                    await self.commit_applied(consumer)
                    last_commit = loop.time()
                # Lag can only grow when records come: idle, it is looked at less often.
                await self._check_positions(
                    consumer, every=2.0 if fetch_wait.current_ms == fetch_wait.short_ms else 10.0
                )
                if self._stuck():
                    self._stuck_restarts += 1
                    log.error(
                        "consumer stuck with work waiting; rejoining its group",
                        extra={"lag": sum(self.lag.values()), "times": self._stuck_restarts},
                    )
                    return
        finally:
            self.started.clear()
            # Not committed on the way out: a stopping service's task is being cancelled, and
            # aiokafka's commit can wait for a coordinator without end (it held shutdowns in
            # the suite). What was applied since the last commit (at most a second's records)
            # is read again by the next owner, and the inbox drops it.
            self._uncommitted.clear()
            await consumer.stop()
            self.forget_partitions(set())

    async def commit_applied(self, consumer: AIOKafkaConsumer, only: set[TopicPartition] | None = None) -> None:
        """Commit the offsets of what was applied and not yet committed (of the partitions
        `only`, when given). Applied means committed in the database: a commit that fails
        (the partition went to another member in a rebalance) only makes its next owner
        re-read records the inbox turns into no-ops."""
        offsets = {tp: o for tp, o in self._uncommitted.items() if only is None or tp in only}
        if not offsets:
            return
        if self.cluster_id is not None:
            now = await self._ask_cluster()
            if now is None:
                return  # cannot tell who the broker is: commit later
            if self._cluster is None:
                self._cluster = now
            elif now != self._cluster:
                log.warning(
                    "broker replaced since these records were read: their offsets are not committed",
                    extra={"before": self._cluster, "now": now},
                )
                self._uncommitted.clear()
                return
        for tp in offsets:
            del self._uncommitted[tp]
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("offset commit failed", extra={"error": repr(exc)})

    async def _ask_cluster(self) -> str | None:
        if self.cluster_id is None:
            return None
        try:
            return await self.cluster_id()
        except Exception as exc:
            stop_if_cancelled(exc)
            log.warning("could not ask the broker's cluster id", extra={"error": repr(exc)})
            return None

    def _drop_uncommitted(self, partitions: set[TopicPartition]) -> None:
        """A partition read again from its start: its pending offset (of the old log) must never
        be committed."""
        for tp in partitions:
            self._uncommitted.pop(tp, None)

    def _fetch_wait(self) -> FetchWait:
        return FetchWait(
            short_ms=self.settings.kafka_fetch_max_wait_ms,
            long_ms=self.settings.kafka_idle_fetch_max_wait_ms,
            idle_after=self.settings.kafka_idle_after_seconds,
            now=asyncio.get_running_loop().time(),
        )

    def forget_partitions(self, kept: set[TopicPartition]) -> None:
        """Drop the lag of partitions this member no longer owns (another replica reports them
        now) and publish how many it owns."""
        keep = {f"{tp.topic}/{tp.partition}" for tp in kept}
        for name in [n for n in self.lag if n not in keep]:
            del self.lag[name]
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.service, name)
        self._partitions.set(len(kept))

    async def reread_if_reset(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """On an assignment soon after a broker replacement: read those partitions from the start."""
        if not assigned or asyncio.get_running_loop().time() > self._reread_until:
            return
        log.warning(
            "broker replaced: re-reading assigned partitions from their start",
            extra={"partitions": sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)},
        )
        OFFSET_RESETS.labels(self.service).inc()
        self._drop_uncommitted(assigned)
        await _rewind(consumer, assigned)

    async def _check_positions(self, consumer: AIOKafkaConsumer, every: float = 2.0) -> None:
        """Publish lag per partition; a position past the log's end means the broker was
        replaced under us, so that partition is read again from its start (the inbox drops
        what was handled).

        The end is the high watermark of the last fetch response: Tansu's ListOffsets answer
        counts record batches, not records, so `end_offsets` cannot be trusted there.
        """
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_check < every:
            return
        self._last_check = loop.time()
        for tp in list(consumer.assignment()):
            end = consumer.highwater(tp)
            if end is None:
                continue
            position = await consumer.position(tp)
            if self._stuck_restarts >= 2 and end > position:
                log.error(
                    "still stuck after rejoining; re-reading the partition from its start",
                    extra={"partition": f"{tp.topic}/{tp.partition}", "position": position, "end": end},
                )
                OFFSET_RESETS.labels(self.service).inc()
                self._drop_uncommitted({tp})
                await _rewind(consumer, {tp})
                self._last_progress = loop.time()
                position = 0
            elif position > end:
                log.error(
                    "position past the log end; re-reading the partition from its start",
                    extra={"partition": f"{tp.topic}/{tp.partition}", "position": position, "end": end},
                )
                OFFSET_RESETS.labels(self.service).inc()
                self._drop_uncommitted({tp})
                await _rewind(consumer, {tp})
                position = 0
            lag = max(end - position, 0)
            self.lag[f"{tp.topic}/{tp.partition}"] = lag
            CONSUMER_LAG.labels(self.service, f"{tp.topic}/{tp.partition}").set(lag)

    def _decode(self, record: Record) -> _Item:
        item = _Item(record=record)
        # The outbox names the type in a header: a type this service does not handle (or does
        # not want right now) is skipped without decoding its body (most records on a busy
        # topic are someone else's).
        for key, value in record.headers or ():
            if key == "type":
                named = bytes(value).decode("utf-8", "replace")
                if not self._wants(named):
                    item.event_type = named
                    return item
                break
        try:
            raw = json.loads(record.value or b"")
            item.event_type = str(raw["type"])
        except (ValueError, TypeError, KeyError) as exc:
            item.poison = f"undecodable message: {exc!r}"
            return item
        if not self._wants(item.event_type):
            return item
        item.handler = self.handlers.get(item.event_type)
        if item.handler is None:
            return item
        try:
            item.event = parse_event(raw)
        except ValidationError as exc:
            item.poison = f"invalid {item.event_type}: {exc}"
        return item

    def _wants(self, event_type: str) -> bool:
        return event_type in self.handlers and (self._interested is None or event_type in self._interested)

    async def _read_interest(self) -> None:
        """Ask what is wanted for this batch; while the database cannot say, everything handled
        is wanted (nothing is skipped wrongly)."""
        if self.interest is None:
            return
        try:
            async with self.unit_of_work() as uow:
                self._interested = frozenset(await self.interest(uow.session))
        except Exception as exc:
            stop_if_cancelled(exc)
            self._interested = None
            log.warning("could not read what the consumer wants; taking everything", extra={"error": repr(exc)})

    async def process_batch(self, records: list[Record]) -> None:
        """Apply a poll batch: in one transaction if it all goes well, else event by event."""
        await self._read_interest()
        items = [self._decode(r) for r in records]
        for item in items:
            if item.handler is None and item.poison is None:
                EVENTS_CONSUMED.labels(self.service, item.event_type, "ignored").inc()
        work = [i for i in items if i.handler is not None or i.poison is not None]
        if not work:
            return
        try:
            await self._until_available(lambda: self._apply(work))
        except Exception as exc:
            stop_if_cancelled(exc)
            log.warning("batch failed; applying it event by event", extra={"error": repr(exc), "size": len(work)})
            for item in work:
                await self._apply_alone(item)

    async def _apply(self, items: list[_Item]) -> None:
        """Handle every fresh event of `items` and park the poison ones, in one transaction."""
        spans: list[Span] | None = [] if tracing.active() else None
        try:
            handled, duplicates = await self._apply_traced(items, spans)
        except BaseException as exc:
            if spans:
                tracing.end_spans(spans, exc)
            raise
        if spans:
            tracing.end_spans(spans)
        for item in handled:
            EVENTS_CONSUMED.labels(self.service, item.event_type, "handled").inc()
        for item in duplicates:
            EVENTS_CONSUMED.labels(self.service, item.event_type, "duplicate").inc()
        self.handled += len(handled)
        await self._announce([i for i in items if i.poison is not None])

    def _span(self, uow: UnitOfWork[Any], item: _Item, spans: list[Span] | None) -> Span | None:
        """With tracing on, the CONSUMER span of one fresh event (ended with the transaction);
        what the handler emits for it carries this span as its parent."""
        if spans is None or item.event is None:
            return None
        r = item.record
        span = tracing.consumer_span(
            self.service, item.event, topic=r.topic, partition=r.partition, offset=r.offset, group=self.group_id
        )
        spans.append(span)
        traceparent = tracing.traceparent_of(span)
        if traceparent is not None:
            uow.trace_parents[item.event.id] = traceparent
            uow.subject_traces[item.event.subject] = traceparent
        return span

    async def _apply_traced(self, items: list[_Item], spans: list[Span] | None) -> tuple[list[_Item], list[_Item]]:
        handled: list[_Item] = []
        duplicates: list[_Item] = []
        async with self.unit_of_work() as uow:
            typed = [i for i in items if i.event is not None]
            events = [(i.event.id, i.event.type) for i in typed if i.event is not None]
            if self.dedup:
                fresh = await claim_many(uow.session, self.inbox, consumer=self.group_id, events=events)
            else:
                fresh = {event_id for event_id, _ in events}
            run: list[_Item] = []  # consecutive events for one batch handler, applied in one call
            for item in items:
                if item.event is None:
                    continue
                if item.event.id not in fresh:
                    duplicates.append(item)
                    continue
                fresh.discard(item.event.id)  # the same event twice in one batch: handle once
                handler = item.handler
                assert handler is not None
                if run and run[0].handler is not handler:
                    await self._apply_run(uow, run)
                    run = []
                span = self._span(uow, item, spans)
                if isinstance(handler, BatchHandler):
                    run.append(item)  # its span is not current: a run's events share one call
                elif span is None:
                    with uow.caused_by(item.event):
                        await handler(uow, item.event)
                else:
                    with uow.caused_by(item.event), tracing.current(span):
                        await handler(uow, item.event)
                handled.append(item)
            if run:
                await self._apply_run(uow, run)
            letters = [self._letter(i, i.poison, attempts=1) for i in items if i.poison is not None]
            await park(uow.session, self.dead_letters, letters)
        return handled, duplicates

    @staticmethod
    async def _apply_run(uow: UnitOfWork[Any], run: list[_Item]) -> None:
        handler = run[0].handler
        assert isinstance(handler, BatchHandler)
        await handler.run(uow, [i.event for i in run])

    async def _apply_alone(self, item: _Item) -> None:
        """One event in its own transaction, retried a capped number of times; then parked."""
        if item.poison is not None:
            await self._until_available(partial(self._park, item, item.poison, attempts=1))
            return
        attempts = self.settings.consumer_max_attempts
        delay = self.settings.consumer_backoff_seconds
        for attempt in range(1, attempts + 1):
            try:
                await self._until_available(lambda: self._apply([item]))
                return
            except PermanentEventError as exc:
                await self._until_available(partial(self._park, item, f"rejected: {exc}", attempts=attempt))
                return
            except Exception as exc:
                stop_if_cancelled(exc)
                if attempt == attempts:
                    log.error(
                        "handler failed on a healthy database; parking the event",
                        extra={"event_type": item.event_type, "error": repr(exc)},
                    )
                    error = f"failed after {attempts} attempts: {exc!r}"
                    await self._until_available(partial(self._park, item, error, attempts=attempts))
                    return
                HANDLER_RETRIES.labels(self.service, item.event_type).inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)

    async def _until_available(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run `action`; while it fails because a dependency is down, wait and try again."""
        delay = self.settings.consumer_backoff_seconds
        while True:
            try:
                await action()
            except Exception as exc:
                stop_if_cancelled(exc)
                if not is_transient(exc):
                    raise
                if self.paused_for is None:
                    log.warning("dependency unavailable; consumer paused", extra={"error": repr(exc)})
                self.paused_for = f"dependency unavailable ({type(exc).__name__})"
                CONSUMER_PAUSED.labels(self.service).set(1)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)
                continue
            if self.paused_for is not None:
                log.warning("dependency back; consumer resumed")
                self.paused_for = None
                CONSUMER_PAUSED.labels(self.service).set(0)
            return

    def _letter(self, item: _Item, error: str | None, *, attempts: int) -> Letter:
        r = item.record
        return Letter(
            consumer=self.group_id,
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            key=r.key,
            value=r.value,
            headers=list(r.headers or ()),
            event_id=item.event.id if item.event is not None else None,
            event_type=item.event_type,
            error=error or "",
            attempts=attempts,
        )

    async def _park(self, item: _Item, error: str, *, attempts: int) -> None:
        async with self.unit_of_work() as uow:
            await park(uow.session, self.dead_letters, [self._letter(item, error, attempts=attempts)])
        item.poison = error
        await self._announce([item])

    async def _announce(self, items: list[_Item]) -> None:
        """Count parked events and copy them to the dead-letter topic (best effort: the
        database already holds them)."""
        for item in items:
            self.parked += 1
            DEADLETTERS_PARKED.labels(self.service, item.event_type).inc()
            EVENTS_CONSUMED.labels(self.service, item.event_type, "deadlettered").inc()
            r = item.record
            log.error(
                "event parked",
                extra={
                    "topic": r.topic,
                    "offset": r.offset,
                    "event_type": item.event_type,
                    "error": (item.poison or "")[:500],
                },
            )
            headers = list(r.headers or ()) + [
                ("x-error", (item.poison or "")[:4000].encode()),
                ("x-original-topic", r.topic.encode()),
                ("x-original-partition", str(r.partition).encode()),
                ("x-original-offset", str(r.offset).encode()),
                ("x-consumer-group", self.group_id.encode()),
                ("x-failed-at", datetime.now(UTC).isoformat().encode()),
            ]
            try:
                async with asyncio.timeout(10):  # not `wait_for`: see `ticketloop_shared.cancellation`
                    await self.producer.send_and_wait(self.topics.deadletter, value=r.value, key=r.key, headers=headers)
            except (KafkaError, TimeoutError) as exc:
                log.warning("dead-letter topic copy failed; the database copy stands", extra={"error": repr(exc)})


async def _rewind(consumer: AIOKafkaConsumer, partitions: set[TopicPartition]) -> None:
    """Read `partitions` again from their start, those still assigned to this member.

    A rebalance can take a partition away between the moment it was listed and the seek, which
    aiokafka refuses with an AssertionError ("Partition is not assigned"). Raised inside the
    rebalance listener, that error broke the consumer session in the middle of a broker
    replacement (seen in the chaos tier: the member never consumed again). A partition taken
    away is not ours to rewind: its next owner is asked on its own assignment."""
    for tp in sorted(partitions & set(consumer.assignment()), key=lambda t: (t.topic, t.partition)):
        try:
            await consumer.seek_to_beginning(tp)
        except (AssertionError, IllegalStateError) as exc:
            log.warning("partition left before its rewind", extra={"partition": str(tp), "error": repr(exc)})


class _RereadAfterReset(ConsumerRebalanceListener):  # type: ignore[misc]
    """Asks the consumer, on each assignment, whether a recent broker replacement means its
    partitions must be read again from the start."""

    def __init__(self, owner: EventConsumer, consumer: AIOKafkaConsumer) -> None:
        self.owner = owner
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """What was applied of the partitions that leave is committed before they go (their next
        owner starts there; briefly: a rebalance must not wait on it), and their lag is forgotten."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(COMMIT_ON_LEAVE_SECONDS):
                await self.owner.commit_applied(self.consumer, set(revoked))
        self.owner.forget_partitions(set(self.consumer.assignment()) - set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Rewind if the broker was just replaced."""
        self.owner.forget_partitions(set(self.consumer.assignment()))
        await self.owner.reread_if_reset(self.consumer, set(assigned))
