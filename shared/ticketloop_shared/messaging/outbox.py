"""Transactional outbox: events are rows written in the same transaction as the state change,
and a relay publishes them to Kafka afterwards.

A crash between commit and publish loses nothing (the row waits); a crash between publish and
marking the row sent publishes it again, which the consumers' inbox absorbs. Published rows are
kept for a retention window: when the broker is replaced (a new cluster id, or a partition's log
going backwards) the relay publishes that window again, so a memory-only broker's loss costs
nothing either.

No NOTIFY on the hot path: PostgreSQL serialises committing transactions that NOTIFY behind one
global lock. Every process that writes outbox rows runs a relay and wakes it after its commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from ticketloop_shared.cancellation import stop_if_cancelled, wait_for_event
from ticketloop_shared.clock import utcnow
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.metrics import BROKER_RESETS, EVENTS_PUBLISHED, OUTBOX_PENDING

log = logging.getLogger(__name__)

# Held shared by every publishing relay and exclusively by whoever rewrites the whole outbox
# (a broker replacement marking the retention window unpublished): publishing stops meanwhile.
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"
# A row belongs to one of SLOTS slots by a stable hash of its key (its subject), so all of one
# subject's events share a slot. A relay partition owns the slots `s % partitions == p` and
# holds an advisory lock per slot while it publishes: two relays never publish one subject at
# once, whichever partition counts their replicas run with, so each subject keeps commit order
# while the partitions publish side by side.
SLOTS = 64
SLOT_LOCK_CLASS = 0x746C6F78  # "tlox": the first key of the per-slot advisory locks


def outbox_table(metadata: MetaData) -> Table:
    """The outbox table, added to a service's own metadata (and its migrations)."""
    return Table(
        "outbox",
        metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
    )


def broker_epoch_table(metadata: MetaData) -> Table:
    """The broker cluster the outbox was last published to (one row), so a replaced broker is
    noticed once, by whichever replica sees it first, even after a restart of the service."""
    return Table(
        "broker_epoch",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("cluster_id", String(200), nullable=False),
        Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def _headers(event: Envelope) -> dict[str, str]:
    headers = {"type": event.type, "source": event.source}
    if event.traceparent is not None:
        headers["traceparent"] = event.traceparent
    return headers


class Outbox:
    """Writes events into a service's outbox within the caller's transaction."""

    def __init__(self, table: Table, topics: Topics) -> None:
        self.table = table
        self.topics = topics

    def rows(self, events: Sequence[Envelope]) -> list[dict[str, object]]:
        """The outbox rows of `events`; the record headers name the type and source, and carry
        the trace context for tools that read headers only (ours read the envelope)."""
        return [
            {
                "event_id": event.id,
                "topic": self.topics.for_type(event.type),
                "key": event.subject,
                "event_type": event.type,
                "payload": event.model_dump_json(),
                "headers": _headers(event),
            }
            for event in events
        ]

    async def write(self, session: AsyncSession, events: Sequence[Envelope]) -> None:
        """Stage events in one statement; they become visible to the relay at commit."""
        if events:
            await session.execute(insert(self.table), self.rows(events))

    async def add(self, session: AsyncSession, event: Envelope) -> None:
        """Stage one event (for callers outside a unit of work, such as tests)."""
        await self.write(session, [event])


class OutboxRelay:
    """Publishes committed outbox rows, each subject's in commit order; woken by its own process
    after each commit, with a fallback poll for rows committed by processes that run no relay.

    It publishes `partitions` slices of the outbox side by side (see `SLOTS`): a burst (a
    million clocks falling due) is published by several batches in flight at once rather than
    one after another, and replicas of the service share the slices."""

    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        table: Table,
        producer: AIOKafkaProducer,
        epoch_table: Table | None = None,
        batch_size: int = 500,
        partitions: int = 1,
        fallback_poll_seconds: float = 1.0,
        linger_seconds: float = 0.0,
        retention: timedelta = timedelta(days=7),
        on_broker_reset: Callable[[], Awaitable[None]] | None = None,
        verify_broker: bool = False,
    ) -> None:
        if not 1 <= partitions <= SLOTS:
            raise ValueError(f"partitions must be between 1 and {SLOTS}")
        self.service = service
        self.engine = engine
        self.table = table
        self.epoch_table = epoch_table
        self.producer = producer
        self.batch_size = batch_size
        self.partitions = partitions
        self.fallback_poll_seconds = fallback_poll_seconds
        self.linger_seconds = linger_seconds
        self.retention = retention
        self.on_broker_reset = on_broker_reset
        self._wakes = [asyncio.Event() for _ in range(partitions)]
        # Per partition: a partition's batches go out one after another, so the offsets each
        # gets back grow on every Kafka partition; two partitions' batches interleave.
        self._high_water: list[dict[tuple[str, int], int]] = [{} for _ in range(partitions)]
        self.published = 0
        self.republished = 0
        self.last_error: str | None = None
        self.settle_seconds = 20.0
        # Whether this relay itself recorded the current broker cluster (first install or a
        # replacement it noticed), rather than finding it recorded by a sibling replica.
        self.recorded_epoch = False
        # Ask the broker who it is before every batch it sends (the runtime's relays do; `_replaced`).
        self.verify_broker = verify_broker
        # The cluster this relay last recorded or found recorded: what a batch may be sent to.
        self.cluster_id: str | None = None
        self._second_pass: asyncio.Future[None] | None = None
        name = engine.dialect.identifier_preparer.format_table(table)
        # Lock and read in one statement (one round trip): the shared relay lock, this
        # partition's slot locks, and its oldest unpublished rows; one row with `ok` false when
        # another relay holds a slot (or the whole outbox is being rewritten). The statement's
        # snapshot is taken before its locks: rows a relay marked sent in between would look
        # unsent, and be published twice, but for the row locks (FOR UPDATE reads a row's latest
        # version and drops it when no longer unpublished).
        self._claim = text(
            f"""
            WITH held AS (
                SELECT pg_try_advisory_xact_lock_shared(CAST(:relay_key AS bigint))
                       AND bool_and(pg_try_advisory_xact_lock(CAST(:slot_class AS integer), s)) AS ok
                FROM generate_series(CAST(:partition AS integer), {SLOTS - 1}, CAST(:partitions AS integer)) AS s
            )
            SELECT held.ok, o.seq, o.topic, o.key, o.event_type, o.payload, o.headers
            FROM held LEFT JOIN LATERAL (
                SELECT seq, topic, key, event_type, payload, headers FROM {name}
                WHERE held.ok AND published_at IS NULL
                  AND (hashtext(key) & {SLOTS - 1}) % CAST(:partitions AS integer) = CAST(:partition AS integer)
                ORDER BY seq
                LIMIT CAST(:limit AS integer)
                FOR UPDATE
            ) AS o ON true
            ORDER BY o.seq
            """
        )
        self._mark = text(f"UPDATE {name} SET published_at = now() WHERE seq = ANY(CAST(:seqs AS bigint[]))")

    def wake(self) -> None:
        """Ask for a drain now (called after a commit that wrote outbox rows)."""
        for wake in self._wakes:
            wake.set()

    async def publish_pending(self) -> int | None:
        """Publish one batch of unpublished rows of each partition, one after another, and mark
        them sent; returns how many, or None when other relays hold every partition (they are
        publishing right now).

        Marking happens only after Kafka acknowledged every message of a batch; if any send
        fails the transaction rolls back and the whole batch is retried later.
        """
        counts = [await self._publish_batch(p) for p in range(self.partitions)]
        done = [n for n in counts if n is not None]
        return sum(done) if done else None

    async def _publish_batch(self, partition: int) -> int | None:
        """One batch of `partition`'s rows (`publish_pending`); None when another relay holds it."""
        async with self.engine.begin() as conn:
            claimed = (
                await conn.execute(
                    self._claim,
                    {
                        "relay_key": RELAY_LOCK_KEY,
                        "slot_class": SLOT_LOCK_CLASS,
                        "partition": partition,
                        "partitions": self.partitions,
                        "limit": self.batch_size,
                    },
                )
            ).all()
            if not claimed[0].ok:
                return None
            rows = [r for r in claimed if r.seq is not None]
            if not rows:
                return 0
            replaced = await self._replaced() if self.verify_broker else None
            if replaced is None:
                futures = []
                for row in rows:
                    headers = [(k, str(v).encode()) for k, v in (row.headers or {}).items()]
                    futures.append(
                        await self.producer.send(
                            row.topic, value=row.payload.encode(), key=row.key.encode(), headers=headers
                        )
                    )
                results = await asyncio.gather(*futures)
                await conn.execute(self._mark, {"seqs": [r.seq for r in rows]})
        if replaced is not None:
            # Nothing sent: record the new cluster and mark the window unpublished (one locked
            # transaction), then publish from the window's start.
            await self.observe_cluster(replaced)
            return await self._publish_batch(partition)
        regressed = self._log_went_back(partition, results)
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
        self.published += len(rows)
        if regressed:
            log.error("a partition's log went backwards: the broker was replaced", extra={"partition": regressed})
            await self.broker_replaced(reason=f"log of {regressed} went backwards")
        return len(rows)

    async def _replaced(self) -> str | None:
        """The broker's cluster id if it is not the one this relay last recorded or found
        recorded (the broker was replaced, or this relay has not asked yet), else None.

        The broker watch asks every few seconds; a relay woken by a commit in between would put
        the newest rows on a new, empty broker before the retention window is republished there,
        so a ticket's later events would come before its earlier ones (seen in the chaos tier:
        routing read a ticket's resolve before its creation and never placed it). One metadata
        request per batch with rows to send (about 2.5 ms on the embedded broker), on the
        producer's own connection, closes that gap; an idle relay asks nothing.

        What it cannot close: a batch whose sends the producer retries across the replacement
        lands on the new broker before the window (the next batch's check republishes it). Asking
        again after the acknowledgements would not help: the records are on the log by then.
        """
        client = self.producer.client
        node = client.get_random_node()
        if node is None:
            raise KafkaConnectionError("no broker known to the producer")
        response = await client.send(node, MetadataRequest([], allow_auto_topic_creation=False))
        cluster = str(response.to_object()["cluster_id"] or "")
        return None if cluster == self.cluster_id else cluster

    def _log_went_back(self, partition: int, results: Sequence[Any]) -> str | None:
        """Track the highest offset each Kafka partition gave this relay partition; a lower one
        means a new, empty log."""
        regressed = None
        high = self._high_water[partition]
        for meta in results:
            key = (meta.topic, meta.partition)
            seen = high.get(key, -1)
            if meta.offset < seen:
                regressed = f"{meta.topic}/{meta.partition}"
                for other in self._high_water:
                    other.clear()
            high[key] = max(meta.offset, high.get(key, -1))
        return regressed

    async def drain(self, *, busy_wait: float = 0.01, busy_limit: float = 2.0) -> int:
        """Publish until nothing is pending, every partition at once; returns how many rows
        were published.

        If another relay is publishing a partition, wait for it (briefly) rather than assume it
        saw our rows.
        """
        counts = await asyncio.gather(
            *(self._drain(p, busy_wait=busy_wait, busy_limit=busy_limit) for p in range(self.partitions))
        )
        return sum(counts)

    async def _drain(self, partition: int, *, busy_wait: float, busy_limit: float) -> int:
        total = 0
        waited = 0.0
        while True:
            n = await self._publish_batch(partition)
            if n is None:
                if waited >= busy_limit:
                    return total
                await asyncio.sleep(busy_wait)
                waited += busy_wait
                continue
            total += n
            if n < self.batch_size:
                return total

    async def pending(self) -> int:
        """Rows committed but not yet published (the outbox lag)."""
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            )
        return int(count or 0)

    async def purge(self) -> int:
        """Delete published rows older than the retention window (kept for replays until then)."""
        cutoff = utcnow() - self.retention
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(self.table).where(self.table.c.published_at.is_not(None), self.table.c.published_at < cutoff)
            )
        return int(result.rowcount or 0)

    async def republish_window(self, since: timedelta | None = None) -> int:
        """Mark every row published within the retention window (or the last `since`)
        unpublished again."""
        async with self.engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(RELAY_LOCK_KEY)))
            return await self._unpublish_window(conn, since)

    async def _unpublish_window(self, conn: AsyncConnection, since: timedelta | None = None) -> int:
        cutoff = utcnow() - (since or self.retention)
        t = self.table
        result = await conn.execute(
            update(t).where(t.c.published_at.is_not(None), t.c.published_at >= cutoff).values(published_at=None)
        )
        count = int(result.rowcount or 0)
        self.republished += count
        return count

    async def observe_cluster(self, cluster_id: str) -> bool:
        """Record the broker cluster we publish to; True (after republishing the retention
        window) when it differs from the one recorded before: the broker was replaced.

        The new cluster is recorded and the window marked unpublished in one transaction: a
        sibling replica's relay that finds the new cluster recorded may publish at once, and
        must find the window ahead of its new rows."""
        if self.epoch_table is None:
            self._now_publishing_to(cluster_id)
            return False
        e = self.epoch_table
        republished = 0
        async with self.engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(RELAY_LOCK_KEY)))
            known = await conn.scalar(select(e.c.cluster_id).where(e.c.id == 1))
            if known == cluster_id:
                self._now_publishing_to(cluster_id)
                return False
            await conn.execute(
                insert(e)
                .values(id=1, cluster_id=cluster_id)
                .on_conflict_do_update(index_elements=[e.c.id], set_={"cluster_id": cluster_id, "seen_at": func.now()})
            )
            if known is not None:
                republished = await self._unpublish_window(conn)
        self.recorded_epoch = True
        self._now_publishing_to(cluster_id)
        if known is None:
            return False
        reason = f"cluster id changed from {known!r} to {cluster_id!r}"
        await self.broker_replaced(reason=reason, republished=republished)
        return True

    def _now_publishing_to(self, cluster_id: str) -> None:
        """Remember the cluster; a different one starts every partition's log afresh, so the
        offsets seen on the old one are forgotten (else the republished window, landing below
        them, would count as a second replacement and be republished again)."""
        if self.cluster_id is not None and cluster_id != self.cluster_id:
            for high in self._high_water:
                high.clear()
        self.cluster_id = cluster_id

    async def recorded_within(self, cluster_id: str, seconds: float) -> bool:
        """Whether `cluster_id` became the recorded broker cluster less than `seconds` ago."""
        if self.epoch_table is None:
            return False
        e = self.epoch_table
        async with self.engine.connect() as conn:
            seen_at = await conn.scalar(select(e.c.seen_at).where(e.c.id == 1, e.c.cluster_id == cluster_id))
        return seen_at is not None and utcnow() - seen_at < timedelta(seconds=seconds)

    async def broker_replaced(self, *, reason: str, republished: int | None = None) -> None:
        """Publish the retention window again and let the owner reset its consumers.

        Once the dust settles, what was published around the replacement is published a second
        time: a record acknowledged by a broker in the middle of being replaced (topics being
        recreated, consumers rejoining) has been seen to go missing on the embedded broker.
        """
        count = await self.republish_window() if republished is None else republished
        BROKER_RESETS.labels(self.service).inc()
        log.warning("broker replaced: republishing the outbox window", extra={"reason": reason, "rows": count})
        if self.on_broker_reset is not None:
            await self.on_broker_reset()
        self.wake()
        if self._second_pass is None or self._second_pass.done():
            self._second_pass = asyncio.ensure_future(self._republish_again())

    def close(self) -> None:
        """Cancel a pending second pass (the service is stopping)."""
        if self._second_pass is not None:
            self._second_pass.cancel()

    async def _republish_again(self) -> None:
        await asyncio.sleep(self.settle_seconds)
        try:
            count = await self.republish_window(since=timedelta(seconds=self.settle_seconds * 2 + 60))
        except Exception as exc:
            log.warning("second republish after a broker replacement failed", extra={"error": repr(exc)})
            return
        log.warning("broker replaced: second pass over what was published around it", extra={"rows": count})
        self.wake()

    async def run(self) -> None:
        """Relay forever, one loop per partition; errors are logged and retried, never fatal."""
        async with asyncio.TaskGroup() as group:
            for partition in range(self.partitions):
                group.create_task(self._run(partition))

    async def _run(self, partition: int) -> None:
        last_purge = 0.0
        last_gauge = 0.0
        loop = asyncio.get_running_loop()
        wake = self._wakes[partition]
        last_batch = -1e9
        while True:
            stop_if_cancelled()
            wake.clear()
            try:
                # Under load (the last batch went out moments ago), let the rows of a few more
                # commits join this one: see `outbox_linger_ms`.
                since = loop.time() - last_batch
                if since < self.linger_seconds:
                    await asyncio.sleep(self.linger_seconds - since)
                last_batch = loop.time()
                await self._drain(partition, busy_wait=0.01, busy_limit=2.0)
                self.last_error = None
                if partition == 0 and loop.time() - last_gauge > 5:
                    last_gauge = loop.time()
                    OUTBOX_PENDING.labels(self.service).set(await self.pending())
                if partition == 0 and loop.time() - last_purge > 3600:
                    last_purge = loop.time()
                    await self.purge()
            except Exception as exc:
                stop_if_cancelled(exc)
                self.last_error = repr(exc)
                log.warning("outbox relay failed; retrying", extra={"error": repr(exc), "partition": partition})
                await asyncio.sleep(self.fallback_poll_seconds)
            await wait_for_event(wake, self.fallback_poll_seconds)
