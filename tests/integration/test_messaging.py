"""The shared backbone on the real broker and PostgreSQL: outbox relay, inbox, dead letters,
consumer groups. A tiny test schema stands in for a service's tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.builders import create_ticket_created
from tests.support import eventually, publish, read_topic
from ticketloop_embedded.broker import EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_shared.clock import SystemClock
from ticketloop_shared.db import make_engine, make_sessionmaker, transaction
from ticketloop_shared.events import EventType, Topics
from ticketloop_shared.messaging.consumer import EventConsumer
from ticketloop_shared.messaging.deadletter import Filters, listing, replay
from ticketloop_shared.messaging.kafka import ensure_topics, make_producer
from ticketloop_shared.messaging.outbox import RELAY_LOCK_KEY, Outbox, OutboxRelay
from ticketloop_shared.metrics import EVENTS_CONSUMED
from ticketloop_shared.runtime import Messaging
from ticketloop_shared.settings import PlatformSettings, ServiceSettings
from ticketloop_shared.unit_of_work import Handler, UnitOfWork, unit_of_work

metadata = MetaData()
messaging = Messaging.on(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("note", String(50), nullable=False),
)


@dataclass
class Backbone:
    """A database with outbox/inbox/effects, a started producer and the topics."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    platform: PlatformSettings
    topics: Topics
    producer: Any

    def relay(self, cls: type[OutboxRelay] = OutboxRelay, **kwargs: Any) -> OutboxRelay:
        return cls(
            service="test",
            engine=self.engine,
            table=messaging.outbox,
            producer=self.producer,
            epoch_table=messaging.broker_epoch,
            **kwargs,
        )

    def unit_of_work(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork[Any]]:
        return unit_of_work(
            self.sessions,
            outbox=Outbox(messaging.outbox, self.topics),
            clock=SystemClock(),
            settings=ServiceSettings(database_url=self.url, platform=self.platform),
            source="test",
        )

    def consumer(self, handlers: dict[str, Handler], **kwargs: Any) -> EventConsumer:
        return EventConsumer(
            service="test",
            settings=self.platform,
            handlers=handlers,
            unit_of_work=self.unit_of_work,
            inbox=messaging.inbox,
            dead_letters=messaging.dead_letters,
            producer=self.producer,
            **kwargs,
        )

    async def parked(self) -> list[dict[str, Any]]:
        return await listing(self.engine, messaging.dead_letters, Filters(include_replayed=True))

    async def effect_count(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(effects)) or 0)


@pytest.fixture
async def backbone(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[Backbone]:
    url = await new_database("backbone")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    topics = Topics(platform.topic_prefix)
    await ensure_topics(platform, topics.all())
    producer = make_producer(platform, client_id="test")
    await producer.start()
    try:
        yield Backbone(url, engine, make_sessionmaker(engine), platform, topics, producer)
    finally:
        await producer.stop()
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(*coros: Awaitable[Any]) -> AsyncIterator[list[asyncio.Task[Any]]]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


def record_effect(note: str = "handled") -> Handler:
    async def handle(uow: UnitOfWork[Any], event: Any) -> None:
        await uow.session.execute(effects.insert().values(event_id=event.id, note=note))

    return handle


async def stage(backbone: Backbone, n: int) -> list[Any]:
    """Commit `n` ticket.created events to the outbox, as a service transaction would."""
    outbox = Outbox(messaging.outbox, backbone.topics)
    events = [create_ticket_created() for _ in range(n)]
    async with transaction(backbone.sessions) as session:
        await outbox.write(session, events)
    return events


async def test_rows_committed_while_no_relay_runs_are_published_when_one_starts(backbone: Backbone) -> None:
    events = await stage(backbone, 5)  # the process "died" right after this commit
    relay = backbone.relay()
    assert await relay.pending() == 5
    assert await relay.drain() == 5
    assert await relay.pending() == 0
    records = await read_topic(backbone.platform, backbone.topics.for_family("ticket"), count=5)
    assert sorted(r.key.decode() for r in records) == sorted(e.subject for e in events)


async def test_published_rows_are_kept_for_the_retention_window_then_purged(backbone: Backbone) -> None:
    await stage(backbone, 3)
    relay = backbone.relay(retention=timedelta(hours=1))
    await relay.publish_pending()
    await stage(backbone, 1)  # committed, not yet published: never purged
    table = messaging.outbox
    async with backbone.engine.begin() as conn:
        oldest = (await conn.scalars(select(table.c.seq).order_by(table.c.seq).limit(2))).all()
        await conn.execute(
            table.update().where(table.c.seq.in_(oldest)).values(published_at=func.now() - timedelta(hours=2))
        )
    assert await relay.purge() == 2
    async with backbone.engine.connect() as conn:
        left = (await conn.execute(select(table.c.published_at))).all()
    assert len(left) == 2 and sum(1 for r in left if r.published_at is None) == 1


class DiesBeforeMarking(OutboxRelay):
    """A relay whose process dies after Kafka acknowledged a batch but before marking it sent."""

    async def publish_pending(self) -> int | None:
        original = self.engine
        self.engine = _FailingCommit(original)  # type: ignore[assignment]
        try:
            return await super().publish_pending()
        finally:
            self.engine = original


class _FailingCommit:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        async with self._engine.begin() as conn:
            yield conn
            raise ConnectionResetError("process killed before commit")


async def test_relay_dying_between_publish_and_mark_loses_nothing_and_doubles_no_effect(
    backbone: Backbone,
) -> None:
    events = await stage(backbone, 3)
    with pytest.raises(ConnectionResetError):
        await backbone.relay(DiesBeforeMarking).publish_pending()
    relay = backbone.relay()
    assert await relay.pending() == 3, "nothing was marked sent"
    assert await relay.drain() == 3  # the restarted relay publishes them again
    topic = backbone.topics.for_family("ticket")
    assert len(await read_topic(backbone.platform, topic, count=6)) == 6  # each is on the topic twice

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()})
    async with running(consumer.run()):
        await eventually(lambda: _equals(backbone.effect_count(), 3))
        await asyncio.sleep(0.5)
    assert await backbone.effect_count() == 3
    assert consumer.handled == 3
    async with backbone.engine.connect() as conn:
        handled = set((await conn.scalars(select(effects.c.event_id))).all())
    assert handled == {e.id for e in events}


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_relay_is_woken_by_its_process_after_the_commit_not_by_its_poll(backbone: Backbone) -> None:
    relay = backbone.relay(fallback_poll_seconds=60)
    async with running(relay.run()):
        await asyncio.sleep(0.3)  # let it go idle
        loop = asyncio.get_running_loop()
        start = loop.time()
        await stage(backbone, 1)
        relay.wake()  # what the unit of work does after a commit that wrote outbox rows
        await eventually(lambda: relay.published == 1, timeout=5, interval=0.01)
        assert loop.time() - start < 2, "published promptly, far inside the 60 s fallback poll"


class _CountingRelay(OutboxRelay):
    """Counts the batches that had rows to publish."""

    batches = 0

    async def _publish_batch(self, partition: int) -> int | None:
        n = await super()._publish_batch(partition)
        if n:
            self.batches += 1
        return n


async def test_a_relay_under_load_lingers_for_fuller_batches_but_not_after_a_quiet_spell(backbone: Backbone) -> None:
    relay = backbone.relay(_CountingRelay, fallback_poll_seconds=60, linger_seconds=0.5)
    assert isinstance(relay, _CountingRelay)
    loop = asyncio.get_running_loop()
    async with running(relay.run()):
        await asyncio.sleep(0.7)  # quiet for longer than the linger
        start = loop.time()
        await stage(backbone, 1)
        relay.wake()
        await eventually(lambda: relay.published == 1, timeout=5, interval=0.005)
        assert loop.time() - start < 0.4, "after a quiet spell the first row goes out at once, not a linger later"
        # Twenty commits 10 ms apart: without lingering, about one batch each.
        for _ in range(20):
            await stage(backbone, 1)
            relay.wake()
            await asyncio.sleep(0.01)
        await eventually(lambda: relay.published == 21, timeout=5, interval=0.01)
    assert relay.batches <= 1 + 6, f"{relay.batches} batches for 21 rows committed one by one"


async def test_a_relay_that_finds_another_publishing_waits_for_it_and_then_publishes(backbone: Backbone) -> None:
    await stage(backbone, 2)
    first, second = backbone.relay(), backbone.relay()
    async with backbone.engine.begin() as conn:  # hold the relay lock as a publishing replica would
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELAY_LOCK_KEY})
        assert await first.publish_pending() is None
        waiting = asyncio.ensure_future(second.drain(busy_wait=0.02))
        await asyncio.sleep(0.2)
        assert not waiting.done()
    assert await waiting == 2


async def test_relays_owning_disjoint_partitions_publish_each_row_once_and_each_subject_in_order(
    backbone: Backbone,
) -> None:
    """Relays of replicas running different partition counts, publishing side by side in small
    batches: every row once, each subject's rows in commit order."""
    firsts = [create_ticket_created() for _ in range(12)]
    events = [
        e
        for _ in range(8)
        for e in (create_ticket_created(ticket_id=f.data.ticket_id) for f in firsts)  # interleaved subjects
    ]
    outbox = Outbox(messaging.outbox, backbone.topics)
    for start in range(0, len(events), 10):  # several commits
        async with transaction(backbone.sessions) as session:
            await outbox.write(session, events[start : start + 10])
    four = backbone.relay(partitions=4, batch_size=3)
    three = backbone.relay(partitions=3, batch_size=2)
    published = await asyncio.gather(four.drain(busy_wait=0.005), three.drain(busy_wait=0.005), four.drain())
    assert sum(published) == len(events)
    assert await four.pending() == 0
    records = await read_topic(
        backbone.platform, backbone.topics.for_family("ticket"), count=len(events) + 1, timeout=5
    )
    ids = [json.loads(r.value)["id"] for r in records]
    assert sorted(ids) == sorted(str(e.id) for e in events), "each row once"
    order = {str(e.id): n for n, e in enumerate(events)}
    for first in firsts:
        mine = [i for r, i in zip(records, ids, strict=True) if r.key.decode() == first.subject]
        assert mine == sorted(mine, key=order.__getitem__), "a subject's rows in commit order"


async def test_a_partition_another_relay_holds_is_left_to_it(backbone: Backbone) -> None:
    await stage(backbone, 6)
    relay = backbone.relay(partitions=2)
    async with backbone.engine.begin() as conn:  # another replica publishing every slot
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELAY_LOCK_KEY})
        assert await relay.publish_pending() is None
    assert await relay.drain() == 6
    assert await relay.pending() == 0


async def test_a_new_broker_cluster_makes_the_relay_publish_its_retention_window_again(backbone: Backbone) -> None:
    reset = 0

    async def on_reset() -> None:
        nonlocal reset
        reset += 1

    relay = backbone.relay(on_broker_reset=on_reset)
    assert await relay.observe_cluster("cluster-a") is False  # first sight: nothing to redo
    await stage(backbone, 3)
    assert await relay.drain() == 3
    assert await relay.observe_cluster("cluster-a") is False
    assert await relay.pending() == 0
    other_replica = backbone.relay()
    assert await other_replica.observe_cluster("cluster-b") is True  # the broker was replaced
    assert await relay.observe_cluster("cluster-b") is False, "noticed once, by whichever replica saw it first"
    # A replica that first asks now finds the cluster recorded by a sibling a moment ago: its
    # runtime has it re-read from the start (the group's offsets there may be carried-over ones).
    joining = backbone.relay()
    assert await joining.observe_cluster("cluster-b") is False
    assert (joining.recorded_epoch, other_replica.recorded_epoch) == (False, True)
    assert await joining.recorded_within("cluster-b", 45) is True
    assert await joining.recorded_within("cluster-a", 45) is False
    assert await relay.pending() == 3
    assert await relay.drain() == 3


async def test_after_a_broker_replacement_offsets_carried_over_from_the_old_log_skip_nothing(
    backbone: Backbone,
) -> None:
    """Before a replacement is noticed, a member can commit its old-log positions to the new
    broker; once the republished window makes the new log longer, nothing looks wrong. A
    consumer restarted for a replacement reads its partitions from the start instead."""
    first = create_ticket_created()
    events = [first, *(create_ticket_created(ticket_id=first.data.ticket_id) for _ in range(29))]
    await publish(backbone.platform, *events)  # one subject: one partition, in this order
    topic = backbone.topics.for_family("ticket")
    group = f"{backbone.platform.topic_prefix}.test"
    stale = AIOKafkaConsumer(bootstrap_servers=backbone.platform.kafka_bootstrap, group_id=group)
    await stale.start()
    try:
        partition = next(
            TopicPartition(topic, p)
            for p in stale.partitions_for_topic(topic) or set()
            if p == _partition_of(first.subject, len(stale.partitions_for_topic(topic) or set()))
        )
        stale.assign([partition])
        await stale.commit({partition: 20})  # a position from the old, longer log
    finally:
        await stale.stop()

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()})
    async with running(consumer.run()):
        await eventually(lambda: _equals(backbone.effect_count(), 10))  # 20..29: the skip, as it was
        consumer.restart()  # what the runtime does when the cluster id changes
        await eventually(lambda: _equals(backbone.effect_count(), 30))
        await asyncio.sleep(0.5)
    assert await backbone.effect_count() == 30


async def test_what_the_relay_publishes_after_a_broker_replacement_keeps_each_subjects_order(
    backbone: Backbone, tmp_path: Path
) -> None:
    """A relay woken just after the broker was replaced, before anyone noticed, used to put the
    newest rows on the new, empty log first; the retention window republished once the
    replacement was seen then came after them. A ticket's resolve was read before its creation
    (the chaos tier's one ticket routing never placed: it first saw the ticket resolved). The
    relay now asks the broker who it is before a batch and republishes the window first."""
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "broker.log")
    broker.start()
    platform = backbone.platform.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    producer = make_producer(platform, client_id="replaced")
    try:
        await ensure_topics(platform, backbone.topics.all())
        await producer.start()
        relay = OutboxRelay(
            service="test",
            engine=backbone.engine,
            table=messaging.outbox,
            epoch_table=messaging.broker_epoch,
            producer=producer,
            verify_broker=True,
        )
        relay.settle_seconds = 3600  # no second pass within the test
        assert await relay.observe_cluster(await _cluster_id(platform)) is False  # the runtime at start
        created = create_ticket_created()
        resolved = create_ticket_created(ticket_id=created.data.ticket_id)  # a later event, same ticket
        await _commit(backbone, created)
        assert await relay.drain() == 1

        broker.stop()  # replaced by an empty broker on the same address, topics recreated
        broker.start()
        await ensure_topics(platform, backbone.topics.all())
        await _commit(backbone, resolved)
        await relay.drain()  # woken by the commit before the broker watch asked
        await relay.observe_cluster(await _cluster_id(platform))  # the watch notices
        await relay.drain()

        records = await read_topic(platform, backbone.topics.for_family("ticket"), count=2)
        first_seen = list(dict.fromkeys(json.loads(r.value)["id"] for r in records))
        assert first_seen == [str(created.id), str(resolved.id)]
    finally:
        await producer.stop()
        broker.stop()


async def _cluster_id(platform: PlatformSettings) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=platform.kafka_bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        return str((await admin.describe_cluster())["cluster_id"])
    finally:
        await admin.close()


async def _commit(backbone: Backbone, *events: Any) -> None:
    async with transaction(backbone.sessions) as session:
        await Outbox(messaging.outbox, backbone.topics).write(session, list(events))


def _partition_of(key: str, partitions: int) -> int:
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def test_an_event_delivered_twice_has_one_effect(backbone: Backbone) -> None:
    event = create_ticket_created()
    await publish(backbone.platform, event, event)
    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()})
    async with running(consumer.run()):
        await eventually(lambda: _equals(backbone.effect_count(), 1))
        await asyncio.sleep(0.5)
    assert await backbone.effect_count() == 1


async def test_a_consumer_with_an_interest_skips_unwanted_types_and_without_dedup_writes_no_inbox(
    backbone: Backbone,
) -> None:
    wanted: set[str] = set()

    async def interest(session: AsyncSession) -> set[str]:
        return set(wanted)

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()}, interest=interest, dedup=False)
    async with running(consumer.run()):
        await publish(backbone.platform, create_ticket_created(), create_ticket_created())
        await eventually(lambda: _equals(_behind(backbone, consumer), 0))
        assert await backbone.effect_count() == 0, "a type nobody wants is skipped"
        wanted.add(EventType.TICKET_CREATED.value)
        await publish(backbone.platform, create_ticket_created())
        await eventually(lambda: _equals(backbone.effect_count(), 1))
    async with backbone.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(messaging.inbox))
    assert rows == 0, "no inbox row when the handler is idempotent by its own keys"


async def _behind(backbone: Backbone, consumer: EventConsumer) -> int:
    """How many records of the ticket topic the consumer's group has not committed yet."""
    probe = AIOKafkaConsumer(
        bootstrap_servers=backbone.platform.kafka_bootstrap, group_id=consumer.group_id, enable_auto_commit=False
    )
    await probe.start()
    try:
        topic = backbone.topics.for_family("ticket")
        parts = [TopicPartition(topic, p) for p in probe.partitions_for_topic(topic) or set()]
        if not parts:
            return -1
        ends = await probe.end_offsets(parts)
        behind = 0
        for tp in parts:
            behind += ends[tp] - (await probe.committed(tp) or 0)
        return behind
    finally:
        await probe.stop()


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on(backbone: Backbone) -> None:
    topic = backbone.topics.for_family("ticket")
    await backbone.producer.send_and_wait(topic, value=b"{not json", key=b"k1")
    bad = create_ticket_created().model_dump(mode="json")
    bad["data"]["created_at"] = "yesterday"
    await backbone.producer.send_and_wait(topic, value=json.dumps(bad).encode(), key=b"k1")
    good = create_ticket_created()
    await publish(backbone.platform, good)

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()})
    async with running(consumer.run()):
        dead = await read_topic(backbone.platform, backbone.topics.deadletter, count=2)
        await eventually(lambda: _equals(backbone.effect_count(), 1))
    assert [r.value for r in dead] == [b"{not json", json.dumps(bad).encode()]
    headers = [dict(r.headers) for r in dead]
    parked = await backbone.parked()
    assert [p["event_type"] for p in parked] == ["unknown", EventType.TICKET_CREATED.value]
    assert "undecodable" in parked[0]["error"] and "created_at" in parked[1]["error"]
    assert b"undecodable" in headers[0]["x-error"]
    assert b"created_at" in headers[1]["x-error"]
    assert headers[1]["x-original-topic"] == topic.encode()
    assert headers[1]["x-consumer-group"] == consumer.group_id.encode()


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_capped_retries(backbone: Backbone) -> None:
    failing, fine = create_ticket_created(), create_ticket_created()
    calls = 0
    record = record_effect()

    async def broken_for_one(uow: UnitOfWork[Any], event: Any) -> None:
        nonlocal calls
        if event.id == failing.id:
            calls += 1
            raise RuntimeError("downstream table missing")
        await record(uow, event)

    await publish(backbone.platform, failing, fine)
    consumer = backbone.consumer({EventType.TICKET_CREATED: broken_for_one})
    async with running(consumer.run()):
        [dead] = await read_topic(backbone.platform, backbone.topics.deadletter, count=1)
        await eventually(lambda: _equals(backbone.effect_count(), 1))  # the consumer went on
    # once in the batch, then the capped attempts alone
    assert calls == 1 + backbone.platform.consumer_max_attempts
    assert b"downstream table missing" in dict(dead.headers)["x-error"]
    [parked] = await backbone.parked()
    assert parked["event_id"] == failing.id and parked["attempts"] == backbone.platform.consumer_max_attempts
    assert dead.key == failing.subject.encode()
    assert dead.value == failing.to_json()


async def test_a_dead_letter_is_kept_in_the_database_and_replayed_to_its_topic(backbone: Backbone) -> None:
    event = create_ticket_created()
    fixed = False
    record = record_effect()

    async def broken_until_fixed(uow: UnitOfWork[Any], e: Any) -> None:
        if not fixed:
            raise RuntimeError("bug")
        await record(uow, e)

    await publish(backbone.platform, event)
    consumer = backbone.consumer({EventType.TICKET_CREATED: broken_until_fixed})
    async with running(consumer.run()):
        await eventually(lambda: consumer.parked == 1)
        fixed = True
        assert await replay(backbone.engine, messaging.dead_letters, backbone.producer, Filters(event_type="x")) == 0
        assert await replay(backbone.engine, messaging.dead_letters, backbone.producer, Filters()) == 1
        await eventually(lambda: _equals(backbone.effect_count(), 1))
        assert await replay(backbone.engine, messaging.dead_letters, backbone.producer, Filters()) == 0, "once"
        await publish(backbone.platform, event)  # and a later redelivery has no second effect
        await asyncio.sleep(1)
    assert await backbone.effect_count() == 1
    [letter] = await backbone.parked()
    assert letter["replayed_at"] is not None


async def test_a_dependency_outage_pauses_the_consumer_instead_of_parking_events(backbone: Backbone) -> None:
    failures_left = backbone.platform.consumer_max_attempts * 3  # far more than the capped retries
    record = record_effect()
    paused_seen = False

    async def database_down(uow: UnitOfWork[Any], event: Any) -> None:
        nonlocal failures_left
        if failures_left > 0:
            failures_left -= 1
            raise ConnectionRefusedError("connection to PostgreSQL refused")
        await record(uow, event)

    events = [create_ticket_created() for _ in range(3)]
    await publish(backbone.platform, *events)
    consumer = backbone.consumer({EventType.TICKET_CREATED: database_down})

    def paused() -> bool:
        nonlocal paused_seen
        paused_seen = paused_seen or "paused" in consumer.problems().get("consumer", "")
        return paused_seen

    async with running(consumer.run()):
        await eventually(paused, interval=0.01)
        await eventually(lambda: _equals(backbone.effect_count(), 3))
        assert consumer.problems() == {}, "ready again once the dependency is back"
    assert consumer.parked == 0 and await backbone.parked() == []


async def test_a_poll_batch_is_applied_in_one_transaction(backbone: Backbone) -> None:
    transactions: set[int] = set()
    record = record_effect()

    async def note_transaction(uow: UnitOfWork[Any], event: Any) -> None:
        transactions.add(id(uow))
        await record(uow, event)

    events = [create_ticket_created() for _ in range(40)]
    await publish(backbone.platform, *events)
    consumer = backbone.consumer({EventType.TICKET_CREATED: note_transaction}, batch_size=500)
    async with running(consumer.run()):
        await eventually(lambda: _equals(backbone.effect_count(), 40))
    assert len(transactions) < 40, "events share transactions"


async def test_a_transient_failure_is_retried_and_applied_once(backbone: Backbone) -> None:
    attempts = 0

    async def flaky(uow: UnitOfWork[Any], event: Any) -> None:
        nonlocal attempts
        attempts += 1
        await uow.session.execute(effects.insert().values(event_id=event.id, note="try"))
        if attempts == 1:
            raise ConnectionError("database restarted")  # the insert above rolls back with it

    await publish(backbone.platform, create_ticket_created())
    consumer = backbone.consumer({EventType.TICKET_CREATED: flaky})
    async with running(consumer.run()):
        await eventually(lambda: _equals(backbone.effect_count(), 1))
    assert attempts == 2
    assert await backbone.effect_count() == 1


async def test_two_copies_of_a_consumer_share_the_partitions_and_handle_each_event_once(
    backbone: Backbone,
) -> None:
    first = backbone.consumer({EventType.TICKET_CREATED: record_effect("a")}, client_id="copy-a")
    second = backbone.consumer({EventType.TICKET_CREATED: record_effect("b")}, client_id="copy-b")
    assert first.group_id == second.group_id
    events = [create_ticket_created() for _ in range(60)]
    async with running(first.run(), second.run()):
        await eventually(lambda: first.assignment() and second.assignment(), timeout=20)
        await eventually(
            lambda: len(first.assignment()) + len(second.assignment()) == backbone.platform.topic_partitions
        )
        assert first.assignment().isdisjoint(second.assignment())
        await publish(backbone.platform, *events)
        await eventually(lambda: _equals(backbone.effect_count(), 60))
        await asyncio.sleep(0.5)
    async with backbone.engine.connect() as conn:
        rows = (await conn.execute(select(effects.c.event_id, effects.c.note))).all()
    assert len(rows) == 60 and len({r.event_id for r in rows}) == 60
    notes = {r.note for r in rows}
    assert notes == {"a", "b"}, "both copies handled a share"
    assert first.handled + second.handled == 60


async def test_offsets_are_committed_lazily_yet_nothing_applied_is_left_uncommitted_once_quiet(
    backbone: Backbone,
) -> None:
    # An interval longer than the test: only the quiet poll and the stop can commit.
    backbone.platform = backbone.platform.model_copy(update={"kafka_commit_interval_ms": 60_000})
    first = backbone.consumer({EventType.TICKET_CREATED: record_effect("first")})
    async with running(first.run()):
        await publish(backbone.platform, *[create_ticket_created() for _ in range(5)])
        await eventually(lambda: _equals(backbone.effect_count(), 5))
        # The poll after the last batch finds nothing: what was applied is committed then.
        await eventually(lambda: _equals(_behind(backbone, first), 0))
        await publish(backbone.platform, *[create_ticket_created() for _ in range(3)])
        await eventually(lambda: _equals(backbone.effect_count(), 8))
        await eventually(lambda: _equals(_behind(backbone, first), 0))
    # A successor in the same group starts after everything the first applied.
    duplicates = EVENTS_CONSUMED.labels("test", EventType.TICKET_CREATED.value, "duplicate")
    before = duplicates._value.get()  # noqa: SLF001 (the counter's value)
    second = backbone.consumer({EventType.TICKET_CREATED: record_effect("second")})
    async with running(second.run()):
        await eventually(lambda: second.started.is_set())
        await publish(backbone.platform, create_ticket_created())
        await eventually(lambda: _equals(backbone.effect_count(), 9))
        await asyncio.sleep(0.5)
    assert second.handled == 1
    assert duplicates._value.get() == before, "nothing was read again (and dropped by the inbox)"  # noqa: SLF001


async def test_a_consumer_that_wants_none_of_the_records_fetches_at_the_idle_pace_until_it_wants_some(
    backbone: Backbone,
) -> None:
    backbone.platform = backbone.platform.model_copy(
        update={"kafka_idle_after_seconds": 0.3, "kafka_idle_fetch_max_wait_ms": 800}
    )
    wanted: set[str] = set()

    async def interest(session: AsyncSession) -> set[str]:
        return set(wanted)

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()}, interest=interest, dedup=False)
    topic = backbone.topics.for_family("ticket")

    async def send_one() -> None:
        event = create_ticket_created()
        await backbone.producer.send_and_wait(topic, value=event.to_json(), key=event.subject.encode())

    def held() -> int:
        return int(consumer._consumer._fetcher._fetch_max_wait_ms)  # type: ignore[union-attr]  # noqa: SLF001

    async with running(consumer.run()):
        await eventually(consumer.started.is_set)
        for _ in range(12):  # records keep coming, none of them wanted
            await send_one()
            await asyncio.sleep(0.1)
        assert held() == 800, "nothing wanted: the broker holds its fetches as long as at idle"
        assert await backbone.effect_count() == 0
        wanted.add(EventType.TICKET_CREATED.value)
        for _ in range(8):
            await send_one()
            await asyncio.sleep(0.1)
        await eventually(lambda: held() == backbone.platform.kafka_fetch_max_wait_ms)
        assert await backbone.effect_count() > 0


async def test_offsets_read_before_the_broker_was_replaced_are_not_committed_to_the_new_one(
    backbone: Backbone,
) -> None:
    who = {"cluster": "the first broker"}

    async def cluster_id() -> str:
        return who["cluster"]

    consumer = backbone.consumer({EventType.TICKET_CREATED: record_effect()}, cluster_id=cluster_id)
    async with running(consumer.run()):
        await eventually(consumer.started.is_set)
        await publish(backbone.platform, create_ticket_created())
        await eventually(lambda: _equals(backbone.effect_count(), 1))
        await eventually(lambda: _equals(_behind(backbone, consumer), 0))  # committed: same broker
        # From here the broker answers with another cluster id: it was replaced.
        who["cluster"] = "a new broker"
        await publish(backbone.platform, create_ticket_created(), create_ticket_created())
        await eventually(lambda: _equals(backbone.effect_count(), 3))
        await asyncio.sleep(1.0)  # several quiet polls, each of which would commit
        assert await _behind(backbone, consumer) == 2, "what was read since is not committed there"
