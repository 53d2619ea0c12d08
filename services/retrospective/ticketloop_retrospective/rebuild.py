"""`python -m ticketloop_retrospective rebuild`: rebuild the read model from the topics into a
fresh database and prove the reports come out identical.

The read model is a projection of events, so it can be thrown away and rebuilt: the topics keep
the events (and after a broker replacement the producers' outbox retention republishes them).
The rebuild notes each topic's end, consumes everything up to it with the same handlers, inbox
and batching as the live consumer (a new consumer group, from the earliest offset, into
`<database>_rebuild`), then computes the reports of the periods asked for on both databases and
compares them figure by figure. Run it when the loop is quiet, or the live side may have counted
events that arrived after the snapshot (the difference is then reported, not hidden).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ticketloop_retrospective.app import MIGRATIONS
from ticketloop_retrospective.db import messaging
from ticketloop_retrospective.handlers import HANDLERS
from ticketloop_retrospective.reports import service as reports
from ticketloop_retrospective.reports.domain import Filters, parse_period
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared import migrations
from ticketloop_shared.clock import SystemClock
from ticketloop_shared.db import ensure_database, make_engine, make_sessionmaker
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.messaging.consumer import EventConsumer
from ticketloop_shared.messaging.kafka import make_producer
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.runtime import all_handlers
from ticketloop_shared.unit_of_work import unit_of_work

log = logging.getLogger(__name__)
Say = Callable[[str], None]


def rebuild_url(url: str) -> str:
    """The database the rebuild writes: the live one's name with `_rebuild`."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_rebuild").render_as_string(hide_password=False)


async def _fresh_database(url: str) -> None:
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        await admin.dispose()
    await ensure_database(url)


async def _topic_ends(settings: RetrospectiveSettings, topics: list[str]) -> dict[TopicPartition, int]:
    probe = AIOKafkaConsumer(bootstrap_servers=settings.platform.kafka_bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(probe.partitions_for_topic(topic) or set())
        ]
        ends: dict[TopicPartition, int] = await probe.end_offsets(partitions)
        return ends
    finally:
        await probe.stop()


async def replay(settings: RetrospectiveSettings, target_url: str, say: Say, *, timeout: float) -> int:
    """Consume every event up to the topics' current ends into `target_url`; events handled."""
    engine = make_engine(target_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    platform = settings.platform
    topics = Topics(platform.topic_prefix)
    outbox = Outbox(messaging.outbox, topics)
    target = settings.model_copy(update={"database_url": target_url})

    def unit(cause: Any = None) -> Any:
        # Replayed events carry their own times (the clock stamps only inbox and outbox rows);
        # events the handlers emit stay in the rebuild database's outbox: nothing is published.
        return unit_of_work(
            sessions, outbox=outbox, clock=SystemClock(), settings=target, source="retrospective", cause=cause
        )

    producer = make_producer(platform, client_id="retrospective-rebuild")
    await producer.start()
    consumer = EventConsumer(
        service="retrospective",
        settings=platform,
        handlers=all_handlers(HANDLERS, messaging),
        unit_of_work=unit,
        inbox=messaging.inbox,
        dead_letters=messaging.dead_letters,
        producer=producer,
        group_id=f"{platform.topic_prefix}.retrospective.rebuild-{uuid.uuid4().hex[:8]}",
        client_id="retrospective-rebuild",
    )
    ends = await _topic_ends(settings, consumer.subscribed_topics)
    total = sum(ends.values())
    into = make_url(target_url).database
    say(f"replaying {total:,} records from {len(consumer.subscribed_topics)} topics into {into}")
    task = asyncio.create_task(consumer.run())
    began = time.monotonic()
    try:
        while True:
            await asyncio.sleep(0.5)
            if task.done():
                task.result()
            positions = await _positions(consumer, ends)
            if all(positions.get(tp, 0) >= end for tp, end in ends.items()):
                break
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"replay did not reach the topics' ends in {timeout:.0f} s")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
        await engine.dispose()
    say(f"  {consumer.handled:,} events applied, {consumer.parked} parked, in {time.monotonic() - began:.1f} s")
    return consumer.handled


async def _positions(consumer: EventConsumer, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """The offsets the rebuild group has committed (committed after the database commit)."""
    kafka = consumer._consumer  # noqa: SLF001  (the live member: its committed offsets)
    if kafka is None:
        return {}
    out: dict[TopicPartition, int] = {}
    for tp, end in ends.items():
        if end == 0:
            out[tp] = 0
            continue
        committed = await kafka.committed(tp)
        out[tp] = committed or 0
    return out


async def compare(settings: RetrospectiveSettings, target_url: str, periods: list[str], say: Say) -> bool:
    """The reports of `periods` on the live and the rebuilt read model; True when identical."""
    identical = True
    zone = settings.report_zone
    for label in periods:
        period = parse_period(label, zone)
        built: list[dict[str, Any]] = []
        for url in (settings.database_url, target_url):
            engine = make_engine(url, pool_size=4)
            try:
                report = await reports.report(
                    make_sessionmaker(engine),
                    period=period,
                    filters=Filters(),
                    pain_classes=settings.pain_classes,
                )
                built.append(json.loads(report.model_dump_json()))
            finally:
                await engine.dispose()
        live, rebuilt = built
        differences = [key for key in live if live[key] != rebuilt.get(key)]
        if differences:
            identical = False
            say(f"  {label}: DIFFERENT in {', '.join(differences)}")
        else:
            say(f"  {label}: identical ({live['tickets_opened']} opened, {live['tickets_resolved']} resolved)")
    return identical


async def rebuild(settings: RetrospectiveSettings, *, periods: list[str], say: Say, timeout: float = 600) -> bool:
    """Rebuild into a fresh database and compare; True when every report is identical."""
    target = rebuild_url(settings.database_url)
    await _fresh_database(target)
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, target)
    await replay(settings, target, say, timeout=timeout)
    say("comparing reports (live vs rebuilt):")
    return await compare(settings, target, periods, say)


def default_periods(settings: RetrospectiveSettings, now: Any) -> list[str]:
    """The last four complete weeks and the last two complete months."""
    from ticketloop_retrospective.reports.domain import ReportMonth, ReportWeek

    zone = settings.report_zone
    week = ReportWeek.containing(now, zone).previous(zone)
    month = ReportMonth.containing(now, zone).previous(zone)
    weeks = [week]
    for _ in range(3):
        weeks.append(weeks[-1].previous(zone))
    return [w.label for w in reversed(weeks)] + [month.previous(zone).label, month.label]
