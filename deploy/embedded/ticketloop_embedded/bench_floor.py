"""`ticketloop bench-floor` (`make bench-floor`): what the event backbone alone costs, with no
business logic at all: the floor under `make bench`'s CPU per ticket.

On a throw-away embedded PostgreSQL and broker (no service), with the platform's own parts:
`ticket.created` envelopes as intake writes them (a realistic payload), committed to an outbox
a few per transaction as a service's transactions would; the platform's `OutboxRelay` publishes
them; `EventConsumer`s with the inbox and a handler that does nothing read them, one consumer
group per reading service. First the writer runs alone at the rate (what committing the rows
costs: a service pays that in a transaction it commits anyway); then everything runs at the
rate for a window, and the CPU of this process (writer, relay and consumers), the broker and
PostgreSQL over the window is divided by the events; less the writer's share, that is the cost
of one event published and consumed by `--groups` groups.

The floor per ticket is then that cost times the events a ticket makes on `make bench`'s mix
(`--events-per-ticket`, counted with pg_stat_statements: see the README), plus the bare POST
(`make bench`'s baseline: a FastAPI endpoint and one INSERT). No service logic is in it: a loop
that does anything for a ticket costs more. Everything of the backbone runs in this one process,
as each service runs its relay and consumer in its own: when the rate asked is more than it
keeps up with, the window stretches and the figures are those of the rate it reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import uvloop
from sqlalchemy import MetaData, func

from ticketloop_embedded.broker import EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_shared.clock import SystemClock
from ticketloop_shared.db import ensure_database, make_engine, make_sessionmaker, transaction
from ticketloop_shared.events import EventType, TicketCreated, TicketCreatedData, Topics
from ticketloop_shared.ids import new_id
from ticketloop_shared.messaging.consumer import EventConsumer
from ticketloop_shared.messaging.kafka import ensure_topics, make_producer
from ticketloop_shared.messaging.outbox import Outbox, OutboxRelay
from ticketloop_shared.runtime import Messaging
from ticketloop_shared.settings import PlatformSettings, ServiceSettings
from ticketloop_shared.unit_of_work import UnitOfWork, unit_of_work

Say = Callable[[str], None]


@dataclass
class Floor:
    """What one window measured."""

    events_per_s: float
    events: int
    groups: int
    seconds: float
    # CPU ms per event written, published and consumed by every group, per process.
    cpu_ms_per_event: dict[str, float]
    cpu_ms_per_event_all: float
    # Of that, committing the event in a transaction of its writer (measured alone first), and
    # the rest: publishing and reading it, the backbone's own cost.
    writer_ms_per_event: float
    backbone_ms_per_event: float
    # The floor per ticket: events per ticket × the cost above, plus the bare POST.
    events_per_ticket: float
    post_ms: float
    floor_ms_per_ticket: float


def floor_per_ticket(cpu_ms_per_event: float, *, events_per_ticket: float, post_ms: float) -> float:
    """The least CPU a ticket can cost on this backbone (pure arithmetic, unit-tested)."""
    return round(cpu_ms_per_event * events_per_ticket + post_ms, 2)


def _event(i: int) -> TicketCreated:
    """A `ticket.created` as intake emits it for a mix ticket (ids, pseudonym, no text)."""
    now = datetime.now(UTC)
    data = TicketCreatedData(
        ticket_id=new_id(),
        number=f"W{now:%Y%m%d}{i:06d}",
        channel=("web", "app", "phone", "email", "messaging")[i % 5],
        category=("billing", "delivery", "product", "account")[i % 4],
        urgency=("low", "normal", "high", "urgent")[i % 4],
        customer_id=f"cus_{new_id().hex[:26]}",
        created_at=now,
        need=("refund", "information", "repair")[i % 3],
        required_skills=[],
        live_session=i % 7 == 0,
        customer_preferred_channel="web",
    )
    return TicketCreated(source="intake", subject=str(data.ticket_id), time=now, data=data)


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, roots in pids.items():
        total = 0.0
        for pid in roots:
            try:
                proc = psutil.Process(pid)
                for p in [proc, *proc.children(recursive=True)]:
                    t = p.cpu_times()
                    total += t.user + t.system
            except psutil.Error:
                continue
        out[name] = total
    return out


async def _measure(
    *,
    platform: PlatformSettings,
    url: str,
    rate: float,
    seconds: float,
    groups: int,
    per_tx: int,
    pids: dict[str, list[int]],
    say: Say,
) -> Measured:
    metadata = MetaData()
    messaging = Messaging.on(metadata)
    engine = make_engine(url, pool_size=groups + 4)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = make_sessionmaker(engine)
    topics = Topics(platform.topic_prefix)
    await ensure_topics(platform, topics.all())
    producer = make_producer(platform, client_id="floor")
    await producer.start()
    relay = OutboxRelay(
        service="floor",
        engine=engine,
        table=messaging.outbox,
        producer=producer,
        epoch_table=messaging.broker_epoch,
        verify_broker=True,
    )
    outbox = Outbox(messaging.outbox, topics)
    settings = ServiceSettings(database_url=url, platform=platform)

    def uow() -> contextlib.AbstractAsyncContextManager[UnitOfWork[Any]]:
        return unit_of_work(sessions, outbox=outbox, clock=SystemClock(), settings=settings, source="floor")

    async def nothing(_: UnitOfWork[Any], __: Any) -> None:
        return None

    consumers = [
        EventConsumer(
            service=f"floor{g}",
            settings=platform,
            handlers={EventType.TICKET_CREATED.value: nothing},
            unit_of_work=uow,
            inbox=messaging.inbox,
            dead_letters=messaging.dead_letters,
            producer=producer,
            group_id=f"floor-group-{g}",
        )
        for g in range(groups)
    ]
    # 1. The writer alone (no relay, no consumer): what committing the rows costs, which a
    # service pays in a transaction it commits anyway. Those rows are then set aside.
    say(f"  the writer alone: {rate:,.0f} events/s for {seconds / 2:.0f} s, {per_tx} per transaction")
    before, began = _cpu(pids), time.monotonic()
    alone = await _steady(sessions, outbox, lambda: None, rate=rate, seconds=seconds / 2, per_tx=per_tx, first=0)
    writer_s = sum(_cpu(pids).values()) - sum(before.values())
    async with engine.begin() as conn:
        await conn.execute(messaging.outbox.update().values(published_at=func.now()))
    say(f"    {alone:,} events in {time.monotonic() - began:.1f} s, {writer_s * 1000 / alone:.3f} CPU ms each")
    tasks = [asyncio.create_task(relay.run()), *(asyncio.create_task(c.run()) for c in consumers)]
    try:
        for c in consumers:
            await asyncio.wait_for(c.started.wait(), 60)
        # Warm up (connections, prepared statements, the groups' first fetches).
        await _write(sessions, outbox, relay.wake, [_event(i) for i in range(200)])
        await _until(lambda: all(c.handled >= 200 for c in consumers), 60)
        # 2. Written, published and read by every group.
        say(f"  steady {rate:,.0f} events/s for {seconds:.0f} s, {per_tx} per transaction, {groups} groups reading")
        before, began = _cpu(pids), time.monotonic()
        written = await _steady(sessions, outbox, relay.wake, rate=rate, seconds=seconds, per_tx=per_tx, first=200)
        await _until(lambda: all(c.handled >= 200 + written for c in consumers), 120)
        took = time.monotonic() - began
        after = _cpu(pids)
        return Measured(written, took, {k: after[k] - before[k] for k in after}, writer_s * 1000 / alone)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await producer.stop()
        await engine.dispose()


async def _write(sessions: Any, outbox: Outbox, wake: Callable[[], None], events: list[TicketCreated]) -> None:
    async with transaction(sessions) as session:
        await outbox.write(session, events)
    wake()


async def _steady(
    sessions: Any, outbox: Outbox, wake: Callable[[], None], *, rate: float, seconds: float, per_tx: int, first: int
) -> int:
    """Commit `per_tx` events at a time at `rate` events/s for `seconds`; how many."""
    written, began = 0, time.monotonic()
    while time.monotonic() - began < seconds:
        due = began + written / rate
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        await _write(sessions, outbox, wake, [_event(first + written + k) for k in range(per_tx)])
        written += per_tx
    return written


@dataclass
class Measured:
    written: int
    seconds: float
    cpu_s: dict[str, float]
    writer_ms_per_event: float


async def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumers did not catch up")
        await asyncio.sleep(0.05)


def bench_floor(
    *,
    rate: float,
    seconds: float,
    groups: int,
    per_tx: int,
    events_per_ticket: float,
    post_ms: float,
    json_path: Path,
    say: Say,
) -> int:
    root = Path(tempfile.mkdtemp(prefix="ticketloop-floor-"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        say("PostgreSQL and the broker: starting")
        pg.start()
        broker.start()
        url = pg.url("floor")
        asyncio.run(ensure_database(url))
        platform = PlatformSettings(kafka_bootstrap=broker.bootstrap, topic_prefix="floor")
        assert broker.process is not None
        pid_file = pg.data_dir / "postmaster.pid"
        pids = {
            "relay and consumers (this process)": [os.getpid()],
            "broker": [broker.process.pid],
            "postgres": [int(pid_file.read_text().split()[0])],
        }
        # uvloop, as the services run under uvicorn.
        measured = uvloop.run(
            _measure(
                platform=platform, url=url, rate=rate, seconds=seconds, groups=groups, per_tx=per_tx, pids=pids, say=say
            )
        )
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    written, took, cpu = measured.written, measured.seconds, measured.cpu_s
    per_event = {k: round(v * 1000 / written, 3) for k, v in cpu.items()}
    all_ms = round(sum(cpu.values()) * 1000 / written, 3)
    writer = round(measured.writer_ms_per_event, 3)
    backbone = round(max(0.0, all_ms - writer), 3)
    floor = Floor(
        events_per_s=round(written / took, 1),
        events=written,
        groups=groups,
        seconds=round(took, 1),
        cpu_ms_per_event=per_event,
        cpu_ms_per_event_all=all_ms,
        writer_ms_per_event=writer,
        backbone_ms_per_event=backbone,
        events_per_ticket=events_per_ticket,
        post_ms=post_ms,
        floor_ms_per_ticket=floor_per_ticket(backbone, events_per_ticket=events_per_ticket, post_ms=post_ms),
    )
    say(f"  {written:,} events in {took:.1f} s ({floor.events_per_s:,.0f}/s), each read by {groups} groups")
    say(f"  CPU ms per event written, published and read {groups} times: {all_ms} {per_event}")
    say(f"  of which committing it (the writer alone, a service's own transaction): {writer}; the backbone: {backbone}")
    say(
        f"  floor per ticket: {events_per_ticket} events x {backbone} ms + {post_ms} ms POST = "
        f"{floor.floor_ms_per_ticket} ms of CPU ({2000 / floor.floor_ms_per_ticket:,.0f} tickets/s on 2 cores at best)"
    )
    json_path.write_text(json.dumps(asdict(floor), indent=2))
    say(f"figures written to {json_path}")
    return 0
