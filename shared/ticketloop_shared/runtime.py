"""What one running service owns: its engine, producer, outbox relay, consumer, broker watch,
scheduled jobs and per-process state. The FastAPI lifespan starts and stops it; nothing happens
at import time. Generic in the service's settings type, so `runtime.settings` is typed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ticketloop_shared import migrations
from ticketloop_shared.cancellation import stop_if_cancelled, wait_for_event
from ticketloop_shared.clock import Clock, SystemClock
from ticketloop_shared.db import asyncpg_dsn, ensure_database, make_engine, make_sessionmaker, make_statement_pool
from ticketloop_shared.events.catalog import EventType
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.faults import is_transient
from ticketloop_shared.messaging.consumer import REREAD_AFTER_RESET_SECONDS, EventConsumer, Interest
from ticketloop_shared.messaging.deadletter import dead_letter_table
from ticketloop_shared.messaging.inbox import inbox_table
from ticketloop_shared.messaging.kafka import ensure_topics, make_producer
from ticketloop_shared.messaging.outbox import Outbox, OutboxRelay, broker_epoch_table, outbox_table
from ticketloop_shared.metrics import REPLICA_INFO
from ticketloop_shared.notices import Notices
from ticketloop_shared.revocation import CHANGED as REVOCATIONS_CHANGED
from ticketloop_shared.revocation import NOTICE as REVOCATIONS_NOTICE
from ticketloop_shared.revocation import Revocations, revocation_handler, revoked_tokens_table
from ticketloop_shared.scheduler import Scheduler
from ticketloop_shared.state import ProcessState
from ticketloop_shared.unit_of_work import Handler, Handlers, Observer, S, UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

# How long a stop waits for the background tasks it cancelled. They end within milliseconds (a
# consumer leaving its group within a few seconds); one that does not has swallowed its
# cancellation, and is left behind with its stack in the log instead of holding the stop.
STOP_TASKS_SECONDS = 20.0


@dataclass
class Messaging:
    """The plumbing tables of one service's metadata (messaging, and the revoked-token list
    every service keeps the same way)."""

    outbox: Table
    inbox: Table
    dead_letters: Table
    broker_epoch: Table
    revoked_tokens: Table

    @classmethod
    def on(cls, metadata: MetaData) -> Messaging:
        """Add the outbox, inbox, dead-letter, broker-epoch and revoked-token tables."""
        return cls(
            outbox=outbox_table(metadata),
            inbox=inbox_table(metadata),
            dead_letters=dead_letter_table(metadata),
            broker_epoch=broker_epoch_table(metadata),
            revoked_tokens=revoked_tokens_table(metadata),
        )


@dataclass
class ServiceSpec(Generic[S]):
    """Everything that makes one service different from another."""

    name: str
    settings: S
    messaging: Messaging
    migrations: Path
    handlers: Handlers[S] = field(default_factory=Handlers)
    # Every timer of the service, declared in its features' `scheduled.py` (see `scheduler`).
    scheduler: Scheduler[S] = field(default_factory=Scheduler)
    on_start: Callable[[Runtime[S]], Awaitable[None]] | None = None
    # Sees every event of the service's units of work just before it is written to the outbox,
    # in the same transaction (see `UnitOfWork.observe`).
    observe: Observer | None = None
    # Consumers beside the main one, each in a consumer group of its own (`<service>-<name>`):
    # name → what it consumes with these settings (no handlers: that consumer does not run).
    side_consumers: dict[str, Callable[[S], SideConsumer]] = field(default_factory=dict)


@dataclass(frozen=True)
class SideConsumer:
    """A consumer beside the main one: its handlers by wire type; optionally what it wants right
    now (`interest`, read from the database while events arrive: other types are skipped
    undecoded); `dedup=False` when its handlers are idempotent by keys of their own, so the
    inbox gets no row per event."""

    handlers: Mapping[str, Handler]
    interest: Interest | None = None
    dedup: bool = True


def all_handlers(handlers: Handlers[Any], messaging: Messaging) -> dict[str, Handler]:
    """A service's own handlers plus those every service runs (keeping token revocations)."""
    return {
        **handlers.by_type(),
        EventType.STAFF_TOKEN_REVOKED.value: revocation_handler(messaging.revoked_tokens),
    }


class Runtime(Generic[S]):
    """The live resources of a service process, and its per-process `state` (caches that would
    otherwise be module globals shared by every service in the process)."""

    def __init__(self, spec: ServiceSpec[S], *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings: S = spec.settings
        self.state = ProcessState()
        self.platform = spec.settings.platform
        self.clock: Clock = clock or SystemClock()
        self.topics = Topics(self.platform.topic_prefix)
        self.outbox = Outbox(spec.messaging.outbox, self.topics)
        self.engine: AsyncEngine = make_engine(
            self.settings.database_url, pool_size=self.settings.db_pool_size, pre_ping=self.settings.db_pre_ping
        )
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine, state=self.state)
        self.statements: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self.side_consumers: list[EventConsumer] = []
        self.cluster_id: str | None = None
        self.broker_problem: str | None = "not checked yet"
        self.revocations = Revocations(spec.messaging.revoked_tokens)
        self.notices = Notices(
            asyncpg_dsn(self.settings.database_url), self.state, check_seconds=self.platform.notice_check_seconds
        )
        self.notices.subscribe(REVOCATIONS_NOTICE, REVOCATIONS_CHANGED)
        for channel, wake in spec.scheduler.notices(self.settings):
            self.notices.subscribe(channel, wake)
        self.replica = spec.settings.replica
        self._tasks: list[asyncio.Task[Any]] = []

    def unit_of_work(self, cause: Envelope | None = None) -> AbstractAsyncContextManager[UnitOfWork[S]]:
        """A transaction whose events go to the outbox and wake the relay after commit."""
        return unit_of_work(
            self.sessions,
            outbox=self.outbox,
            clock=self.clock,
            settings=self.settings,
            source=self.spec.name,
            cause=cause,
            on_commit=self.wake_relay,
            statements=self.statements,
            state=self.state,
            observe=self.spec.observe,
        )

    async def migrate(self) -> None:
        """Create the database if needed and bring its schema to head."""
        await ensure_database(self.settings.database_url)
        await asyncio.to_thread(migrations.upgrade, self.spec.migrations, self.settings.database_url)

    async def start(self) -> None:
        """Migrate, connect to Kafka, and start relay, consumer, broker watch and sweeps."""
        REPLICA_INFO.labels(self.spec.name, self.replica).set(1)
        if self.settings.migrate_on_start:
            await self._when_available("migrate", self.migrate)
        if self.settings.db_statement_pool_size:
            await self._when_available("statement pool", self._open_statement_pool)
        await ensure_topics(self.platform, self.topics.all())
        self.producer = make_producer(self.platform, client_id=f"{self.spec.name}-producer")
        await self.producer.start()
        self.relay = OutboxRelay(
            service=self.spec.name,
            engine=self.engine,
            table=self.spec.messaging.outbox,
            epoch_table=self.spec.messaging.broker_epoch,
            producer=self.producer,
            batch_size=self.platform.outbox_batch_size,
            partitions=self.settings.outbox_partitions,
            fallback_poll_seconds=self.platform.outbox_fallback_poll_seconds,
            linger_seconds=self.platform.outbox_linger_ms / 1000,
            retention=timedelta(hours=self.platform.outbox_retention_hours),
            on_broker_reset=self._broker_reset,
            verify_broker=True,
        )
        try:
            await self._check_broker()
        except Exception as exc:  # the watch below keeps trying
            self.broker_problem = repr(exc)
            log.warning("broker check failed at start", extra={"error": repr(exc)})
        on_start = self.spec.on_start
        if on_start is not None:
            await self._when_available("start-up", lambda: on_start(self))
        self._spawn("outbox-relay", self.relay.run())
        self._spawn("broker-watch", self._watch_broker())
        self._spawn("revocations", self._refresh_revocations())
        self._spawn("notices", self.notices.run())
        handlers = all_handlers(self.spec.handlers, self.spec.messaging)
        if handlers and self.settings.consumer_enabled:
            self.consumer = EventConsumer(
                service=self.spec.name,
                replica=self.replica,
                client_id=f"{self.spec.name}-consumer-{self.replica}",
                settings=self.platform,
                handlers=handlers,
                unit_of_work=self.unit_of_work,
                inbox=self.spec.messaging.inbox,
                dead_letters=self.spec.messaging.dead_letters,
                producer=self.producer,
                batch_size=self.settings.consumer_batch_size,
                cluster_id=self._cluster_id,
            )
            self._spawn("consumer", self.consumer.run())
        for name, side_consumer in self.spec.side_consumers.items():
            wanted = side_consumer(self.settings)
            if not wanted.handlers or not self.settings.consumer_enabled:
                continue
            side = EventConsumer(
                service=f"{self.spec.name}-{name}",
                replica=self.replica,
                client_id=f"{self.spec.name}-{name}-{self.replica}",
                settings=self.platform,
                handlers=wanted.handlers,
                unit_of_work=self.unit_of_work,
                inbox=self.spec.messaging.inbox,
                dead_letters=self.spec.messaging.dead_letters,
                producer=self.producer,
                batch_size=self.settings.consumer_batch_size,
                interest=wanted.interest,
                dedup=wanted.dedup,
                cluster_id=self._cluster_id,
            )
            self.side_consumers.append(side)
            self._spawn(f"consumer-{name}", side.run())
        for name, loop in self.spec.scheduler.loops(self).items():
            self._spawn(name, loop)

    async def _open_statement_pool(self) -> None:
        size = self.settings.db_statement_pool_size
        self.statements = await make_statement_pool(self.settings.database_url, size=size)

    async def _refresh_revocations(self) -> None:
        """Re-read the revoked-token list on a change notice, else once a safety-net interval."""
        while True:
            changed = self.state[REVOCATIONS_CHANGED]
            changed.clear()  # what is committed from here on is seen by this read
            try:
                await self.revocations.refresh(self.engine)
            except Exception as exc:
                stop_if_cancelled(exc)
                log.warning("periodic job failed", extra={"job": "revocations", "error": repr(exc)})
                await asyncio.sleep(1.0)
                continue
            await wait_for_event(changed, self.platform.revocation_refresh_seconds)

    async def _when_available(self, what: str, action: Callable[[], Awaitable[None]]) -> None:
        """Run a start-up step, waiting out a dependency that is down (a service started during
        a database restart comes up when it is back instead of crash-looping)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.startup_wait_seconds
        delay = 0.5
        while True:
            try:
                await action()
                return
            except Exception as exc:
                stop_if_cancelled(exc)
                if not is_transient(exc) or loop.time() > deadline:
                    raise
                log.warning(f"{what}: dependency unavailable, waiting", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _cluster_id(self) -> str:
        """The broker's cluster id, asked on the producer's connection with a metadata request
        naming no topic (a fresh admin client each time cost a connection and two answers
        listing every topic, every few seconds in every service)."""
        if self.producer is None:
            raise KafkaConnectionError("producer not started")
        client = self.producer.client
        node = client.get_random_node()
        if node is None:
            raise KafkaConnectionError("no broker known to the producer")
        request = MetadataRequest([], allow_auto_topic_creation=False)
        async with asyncio.timeout(5.0):  # not `wait_for`: see `ticketloop_shared.cancellation`
            response = await client.send(node, request)
        return str(response.to_object()["cluster_id"] or "")

    async def _check_broker(self) -> None:
        """Ask the broker who it is; a new cluster id means it was replaced."""
        cluster_id = await self._cluster_id()
        self.broker_problem = None
        if self.cluster_id is not None and cluster_id != self.cluster_id:
            log.warning("broker cluster changed", extra={"before": self.cluster_id, "now": cluster_id})
            await self._broker_reset()
        first = self.cluster_id is None
        self.cluster_id = cluster_id
        if not first and self.relay is not None and self.relay.cluster_id == cluster_id:
            # The cluster this process's relay already recorded, or found recorded: nothing to
            # compare in the database (a sibling that saw another one would mean a new broker,
            # which this answer would show too). Saves a transaction every few seconds at idle.
            return
        if self.relay is not None and cluster_id:
            replaced = await self.relay.observe_cluster(cluster_id)
            if (
                first
                and not replaced
                and not self.relay.recorded_epoch
                and await self.relay.recorded_within(cluster_id, REREAD_AFTER_RESET_SECONDS)
            ):
                # Another process of this service recorded the broker just before this one first
                # asked: a sibling replica that noticed a replacement while this one was starting
                # (or restarting). Offsets the group committed on the new broker may then be
                # positions carried over from the old log (seen in the chaos tier: a replica that
                # joined then never read what lay below them), so whatever this member is assigned
                # in the next while is read from its start, as the sibling's is. (Just after a
                # first install this also happens, and costs a rejoin over near-empty logs.)
                log.warning("broker recorded just before this process joined (replaced?); re-reading from the start")
                await self._broker_reset()

    async def _broker_reset(self) -> None:
        """A replaced broker: recreate the topics and rejoin with no remembered positions."""
        await ensure_topics(self.platform, self.topics.all(), attempts=3)
        for consumer in (self.consumer, *self.side_consumers):
            if consumer is not None:
                consumer.restart()

    async def _watch_broker(self) -> None:
        while True:
            await asyncio.sleep(self.platform.broker_check_seconds)
            try:
                await self._check_broker()
            except Exception as exc:
                stop_if_cancelled(exc)
                if self.broker_problem is None:
                    log.warning("broker check failed", extra={"error": repr(exc)})
                self.broker_problem = repr(exc)

    def _spawn(self, name: str, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"{self.spec.name}:{name}")
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    @staticmethod
    def _on_task_done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task died", extra={"task": task.get_name()}, exc_info=task.exception())

    async def ready(self) -> dict[str, str]:
        """Readiness of each dependency; an empty map means ready."""
        problems: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems["database"] = f"unavailable ({type(exc).__name__})"
        if self.producer is None:
            problems["kafka"] = "producer not started"
        elif self.broker_problem is not None:
            problems["kafka"] = f"broker unreachable ({self.broker_problem[:200]})"
        for task in self._tasks:
            if task.done():
                problems[task.get_name()] = "stopped"
        if self.consumer is not None:
            problems.update(self.consumer.problems())
        for side in self.side_consumers:
            problems.update({f"{side.service} {k}": v for k, v in side.problems().items()})
        if self.relay is not None and self.relay.last_error is not None:
            problems["outbox-relay"] = f"failing ({self.relay.last_error[:200]})"
        return problems

    def wake_relay(self) -> None:
        """This process just committed outbox rows."""
        if self.relay is not None:
            self.relay.wake()

    async def stop(self) -> None:
        """Cancel background work, then close Kafka and the engine."""
        with contextlib.suppress(KeyError):  # this process no longer runs that replica
            REPLICA_INFO.remove(self.spec.name, self.replica)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TASKS_SECONDS)
            for task in stuck:
                # A bug (a loop that swallowed its cancellation): say where it is, and stop anyway
                # rather than hold the process (and a rolling update) for ever.
                trace = io.StringIO()
                task.print_stack(file=trace)
                log.error(
                    "background task did not stop when cancelled; stopping without it",
                    extra={"task": task.get_name(), "stack": trace.getvalue()[-4000:]},
                )
        self._tasks.clear()
        if self.relay is not None:
            self.relay.close()
        await self.state.aclose()
        if self.producer is not None:
            await self.producer.stop()
        if self.statements is not None:
            await self.statements.close()
        await self.engine.dispose()
