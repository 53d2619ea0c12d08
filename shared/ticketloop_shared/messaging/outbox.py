"""Transactional outbox: events are rows written in the same transaction as the state change,
and a relay publishes them to Kafka afterwards.

A crash between commit and publish loses nothing (the row waits); a crash between publish and
marking the row sent publishes it again, which the consumers' inbox absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
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
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ticketloop_shared.clock import utcnow
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "ticketloop_outbox"
# Only one relay per database publishes at a time, which keeps each subject's events in
# commit order even when a service runs several replicas (the others stand by).
RELAY_LOCK_KEY = 0x7469636B6574  # "ticket"


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


class Outbox:
    """Writes events into a service's outbox within the caller's transaction."""

    def __init__(self, table: Table, topics: Topics) -> None:
        self.table = table
        self.topics = topics

    async def add(self, session: AsyncSession, event: Envelope) -> None:
        """Stage one event; it becomes visible to the relay when the transaction commits.

        The NOTIFY is transactional too, so the relay wakes exactly when there is work.
        """
        await session.execute(
            self.table.insert().values(
                event_id=event.id,
                topic=self.topics.for_type(event.type),
                key=event.subject,
                event_type=event.type,
                payload=event.model_dump_json(),
                headers={"type": event.type, "source": event.source},
            )
        )
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


class OutboxRelay:
    """Publishes committed outbox rows in order, woken by NOTIFY (with a fallback poll)."""

    def __init__(
        self,
        *,
        service: str,
        engine: AsyncEngine,
        table: Table,
        producer: AIOKafkaProducer,
        database_url: str,
        batch_size: int = 500,
        fallback_poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self.service = service
        self.engine = engine
        self.table = table
        self.producer = producer
        self.database_url = database_url
        self.batch_size = batch_size
        self.fallback_poll_seconds = fallback_poll_seconds
        self.retention = retention
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self.published = 0

    def wake(self) -> None:
        """Ask for a drain now (also called by the NOTIFY listener)."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows and mark them sent; returns how many.

        Marking happens only after Kafka acknowledged every message of the batch; if any send
        fails the transaction rolls back and the whole batch is retried later.
        """
        t = self.table
        async with self.engine.begin() as conn:
            locked = await conn.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY)))
            if not locked:
                return 0
            rows = (
                await conn.execute(
                    select(t.c.seq, t.c.topic, t.c.key, t.c.event_type, t.c.payload, t.c.headers)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            futures = []
            for row in rows:
                headers = [(k, str(v).encode()) for k, v in (row.headers or {}).items()]
                futures.append(
                    await self.producer.send(
                        row.topic, value=row.payload.encode(), key=row.key.encode(), headers=headers
                    )
                )
            await asyncio.gather(*futures)
            await conn.execute(update(t).where(t.c.seq.in_([r.seq for r in rows])).values(published_at=func.now()))
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
        self.published += len(rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending; returns how many rows were published."""
        total = 0
        while True:
            n = await self.publish_pending()
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

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.database_url))
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake())
        except (OSError, asyncpg.PostgresError) as exc:
            self._listener = None
            log.warning("outbox LISTEN unavailable, polling only", extra={"error": repr(exc)})

    async def run(self) -> None:
        """Relay forever; errors are logged and retried, never fatal."""
        await self._listen()
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                try:
                    await self.drain()
                    OUTBOX_PENDING.labels(self.service).set(await self.pending())
                    if loop.time() - last_purge > 3600:
                        last_purge = loop.time()
                        await self.purge()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    await asyncio.sleep(self.fallback_poll_seconds)
                if self._listener is None or self._listener.is_closed():
                    await self._listen()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.fallback_poll_seconds)
        finally:
            if self._listener is not None and not self._listener.is_closed():
                await self._listener.close()
