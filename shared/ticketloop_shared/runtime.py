"""What one running service owns: its engine, producer, outbox relay, consumer and periodic
sweeps. The FastAPI lifespan starts and stops it; nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ticketloop_shared import migrations
from ticketloop_shared.clock import Clock, SystemClock
from ticketloop_shared.db import ensure_database, make_engine, make_sessionmaker
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.messaging.consumer import EventConsumer, Handler
from ticketloop_shared.messaging.inbox import inbox_table
from ticketloop_shared.messaging.kafka import ensure_topics, make_producer
from ticketloop_shared.messaging.outbox import Outbox, OutboxRelay, outbox_table
from ticketloop_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Periodic:
    """A sweep run every `interval` seconds; one failing run is logged and the next goes on."""

    name: str
    interval: float
    run: Callable[[Runtime], Awaitable[Any]]


@dataclass
class Messaging:
    """The outbox and inbox tables of one service's metadata."""

    outbox: Table
    inbox: Table

    @classmethod
    def on(cls, metadata: MetaData) -> Messaging:
        """Add the outbox and inbox tables to a service's metadata."""
        return cls(outbox=outbox_table(metadata), inbox=inbox_table(metadata))


@dataclass
class ServiceSpec:
    """Everything that makes one service different from another."""

    name: str
    settings: ServiceSettings
    messaging: Messaging
    migrations: Path
    # A map, or a function of the runtime that builds it (when handlers need its outbox/clock).
    handlers: Mapping[str, Handler] | Callable[[Runtime], Mapping[str, Handler]] = field(default_factory=dict)
    periodic: list[Periodic] = field(default_factory=list)
    on_start: Callable[[Runtime], Awaitable[None]] | None = None


class Runtime:
    """The live resources of a service process."""

    def __init__(self, spec: ServiceSpec, *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = spec.settings
        self.platform = spec.settings.platform
        self.clock: Clock = clock or SystemClock()
        self.topics = Topics(self.platform.topic_prefix)
        self.outbox = Outbox(spec.messaging.outbox, self.topics)
        self.engine: AsyncEngine = make_engine(self.settings.database_url)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def migrate(self) -> None:
        """Create the database if needed and bring its schema to head."""
        await ensure_database(self.settings.database_url)
        await asyncio.to_thread(migrations.upgrade, self.spec.migrations, self.settings.database_url)

    async def start(self) -> None:
        """Migrate, connect to Kafka, and start relay, consumer and sweeps as tasks."""
        if self.settings.migrate_on_start:
            await self.migrate()
        await ensure_topics(self.platform, self.topics.all())
        self.producer = make_producer(self.platform, client_id=f"{self.spec.name}-producer")
        await self.producer.start()
        self.relay = OutboxRelay(
            service=self.spec.name,
            engine=self.engine,
            table=self.spec.messaging.outbox,
            producer=self.producer,
            database_url=self.settings.database_url,
            batch_size=self.platform.outbox_batch_size,
            fallback_poll_seconds=self.platform.outbox_fallback_poll_seconds,
            retention=timedelta(hours=self.platform.outbox_retention_hours),
        )
        if self.spec.on_start is not None:
            await self.spec.on_start(self)
        self._spawn("outbox-relay", self.relay.run())
        handlers = self.spec.handlers(self) if callable(self.spec.handlers) else self.spec.handlers
        if handlers:
            self.consumer = EventConsumer(
                service=self.spec.name,
                settings=self.platform,
                handlers=handlers,
                session_factory=self.sessions,
                inbox=self.spec.messaging.inbox,
                producer=self.producer,
            )
            self._spawn("consumer", self.consumer.run())
        for job in self.spec.periodic:
            self._spawn(job.name, self._every(job))

    def _spawn(self, name: str, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"{self.spec.name}:{name}")
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    @staticmethod
    def _on_task_done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task died", extra={"task": task.get_name()}, exc_info=task.exception())

    async def _every(self, job: Periodic) -> None:
        while True:
            try:
                await job.run(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job failed", extra={"job": job.name})
            await asyncio.sleep(job.interval)

    async def ready(self) -> dict[str, str]:
        """Readiness of each dependency; empty values mean ready."""
        problems: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems["database"] = repr(exc)
        if self.producer is None:
            problems["kafka"] = "producer not started"
        for task in self._tasks:
            if task.done():
                problems[task.get_name()] = "stopped"
        if self.consumer is not None and not self.consumer.started.is_set():
            problems["consumer"] = "not yet joined its group"
        return problems

    def wake_relay(self) -> None:
        """Shortcut for the common case: this process just committed outbox rows."""
        if self.relay is not None:
            self.relay.wake()

    async def stop(self) -> None:
        """Cancel background work, then close Kafka and the engine."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.producer is not None:
            await self.producer.stop()
        await self.engine.dispose()
