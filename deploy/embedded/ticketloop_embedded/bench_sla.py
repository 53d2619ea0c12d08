"""`ticketloop bench-sla`: a million open SLA clocks, how late each breach is announced.

1. Load: N open clocks (a mix of policies and business calendars; tickets reported over the
   past day, so the clocks still open fall due across the next day) through sla's documented
   bulk path (`ticketloop_sla.clocks.bulk`: the event path's rules, written with COPY).
2. Run sla in its own process on a clock the bench controls, with its real timer, outbox
   relay and broker. The clock runs at real speed, then 60 times faster, then jumps to the
   end of the day (a burst: every remaining clock due at once).
3. Read every `sla.breached` back from the topic. Lateness is the Kafka timestamp of the
   publish minus the real instant the controlled clock reached the due time; a breach is
   missed when a loaded clock due by the end has none, doubled when it has two.
Figures printed and written as JSON; sla's peak RSS read from /proc.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ticketloop_embedded.broker import EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_shared.db import ensure_database
from ticketloop_shared.events import ClockKind, EscalationTarget, Topics
from ticketloop_shared.messaging.kafka import ensure_topics
from ticketloop_shared.migrations import upgrade
from ticketloop_shared.settings import PlatformSettings

Say = Callable[[str], None]
V0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday noon: business calendars are open and closed in the day ahead
DAY = timedelta(days=1)
CHANNELS = ("web", "app", "email", "messaging", "phone", "counter")
CATEGORIES = ("billing", "account", "product_quality", "logistics_delay", "service_attitude", "other")


class ControlledClock:
    """sla's clock in the bench: `v0 + (real - r0) × speed`, the three read from a JSON file the
    bench rewrites between phases (checked every 10 ms)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked = 0.0
        self._mtime = 0.0
        self._v0 = V0.timestamp()
        self._r0 = time.time()
        self._speed = 0.0

    def now(self) -> datetime:
        """The controlled instant."""
        real = time.time()
        if time.monotonic() - self._checked > 0.01:
            self._checked = time.monotonic()
            try:
                mtime = os.stat(self.path).st_mtime
                if mtime != self._mtime:
                    spec = json.loads(self.path.read_text())
                    self._v0, self._r0, self._speed, self._mtime = spec["v0"], spec["r0"], spec["speed"], mtime
            except (OSError, ValueError, KeyError):
                pass
        return datetime.fromtimestamp(self._v0 + (real - self._r0) * self._speed, UTC)


@dataclass
class Phase:
    """From real instant `r0` the controlled clock reads `v0 + (real - r0) × speed`."""

    name: str
    r0: float
    v0: float
    speed: float


def reached(phases: list[Phase], due: float) -> tuple[str, float] | None:
    """The phase in which the controlled clock first reached `due`, and the real instant it did."""
    for i, p in enumerate(phases):
        end = phases[i + 1].r0 if i + 1 < len(phases) else float("inf")
        if due <= p.v0:
            return p.name, p.r0
        if p.speed > 0 and due <= p.v0 + (end - p.r0) * p.speed:
            return p.name, p.r0 + (due - p.v0) / p.speed
    return None


def write_phase(path: Path, phase: Phase) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"v0": phase.v0, "r0": phase.r0, "speed": phase.speed}))
    os.replace(tmp, path)


# --- the rules and the clocks -----------------------------------------------------------------


async def install_rules(url: str) -> None:
    """Two office calendars with holidays and five policies, written as the admin API would."""
    from ticketloop_sla.policies.repository import policy_json
    from ticketloop_slarules.policies import SPEC_PAUSES, Conditions, Policy, Step, Target, spec_targets

    def targets(calendar: str, resolution: float) -> dict[ClockKind, Target]:
        base = spec_targets(first_response_minutes=15)
        return {
            **base,
            ClockKind.PLAN: Target(120, calendar),
            ClockKind.RESOLUTION: Target(resolution, calendar),
            ClockKind.FIRST_RESPONSE: Target(15, calendar),
        }

    steps = (Step(1, 0.75, EscalationTarget.ASSIGNEE), Step(2, 1.0, EscalationTarget.SUPERVISOR))
    policies = [
        Policy(
            "voice",
            "Voice",
            10,
            Conditions(channels=frozenset({"phone"})),
            {**spec_targets(first_response_minutes=3)},
            SPEC_PAUSES,
            0.75,
            steps,
        ),
        Policy(
            "berlin",
            "Berlin office",
            20,
            Conditions(categories=frozenset({"billing", "account"})),
            targets("berlin", 480),
            SPEC_PAUSES,
            0.75,
            steps,
        ),
        Policy(
            "new-york",
            "New York office",
            30,
            Conditions(categories=frozenset({"logistics_delay"})),
            targets("new-york", 960),
            SPEC_PAUSES,
            0.75,
            steps,
        ),
        Policy(
            "urgent",
            "Urgent",
            40,
            Conditions(urgencies=frozenset({"urgent"})),
            {**spec_targets(first_response_minutes=10), ClockKind.RESOLUTION: Target(240)},
            SPEC_PAUSES,
            0.75,
            steps,
        ),
        Policy(
            "default", "Default", 1000, Conditions(), spec_targets(first_response_minutes=15), SPEC_PAUSES, 0.75, steps
        ),
    ]
    calendars = {
        "berlin": ("Europe/Berlin", [[[540, 1080]]] * 5 + [[], []], [date(2026, 3, 3)]),
        "new-york": ("America/New_York", [[[540, 720], [780, 1020]]] * 5 + [[], []], [date(2026, 3, 4)]),
    }
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM policies")
            for cid, (zone, week, holidays) in calendars.items():
                await conn.execute(
                    "INSERT INTO calendars (id, name, time_zone, week, version, updated_at)"
                    " VALUES ($1, $1, $2, $3, 1, now())",
                    cid,
                    zone,
                    json.dumps(week),
                )
                for day in holidays:
                    await conn.execute("INSERT INTO holidays VALUES ($1, $2, 'holiday')", cid, day)
            for p in policies:
                j = policy_json(p)
                await conn.execute(
                    "INSERT INTO policies (id, name, position, conditions, targets, pauses, warning_share, escalation,"
                    " version, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,1,now())",
                    p.id,
                    p.name,
                    p.position,
                    json.dumps(j["conditions"]),
                    json.dumps(j["targets"]),
                    json.dumps(j["pauses"]),
                    p.warning_share,
                    json.dumps(j["escalation"]),
                )
            await conn.execute(
                "INSERT INTO rule_changes (subject, subject_id, version, action, actor, changed_at)"
                " VALUES ('policy', 'bench', 1, 'created', 'bench', now())"
            )
    finally:
        await conn.close()


async def load_clocks(url: str, *, clocks: int, seed: int, say: Say) -> tuple[set[tuple[uuid.UUID, str]], float]:
    """Bulk-load `clocks` open clocks; returns the (ticket, metric) of every one due within the
    day, and the seconds the load took."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from ticketloop_sla.clocks import bulk
    from ticketloop_sla.clocks.rules import Ticket
    from ticketloop_sla.policies import repository
    from ticketloop_slarules import cycles as domain

    engine = create_async_engine(url)
    async with engine.connect() as c:
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(bind=c) as session:
            rules = await repository.load(session)
    await engine.dispose()
    rng = random.Random(seed)
    v0 = V0
    expected: set[tuple[uuid.UUID, str]] = set()

    def settle(t: Ticket) -> None:
        # Announce (silently) what was due before the bench starts: a loaded clock is open, its
        # warnings already given; only what falls due from V0 on is measured.
        policy = rules.policy(t.policy_id)
        kept = {}
        for kind, c in t.clocks.items():
            if c.due_at is None or c.due_at <= v0 or c.due_at > v0 + DAY:
                continue
            cycles, _ = domain.advance(c, v0, policy, rules.calendar(c.calendar))
            kept[kind] = replace(cycles[-1])
        t.clocks = kept

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    started = time.monotonic()
    loaded = 0
    n = 0
    try:
        while loaded < clocks:
            batch = []
            for _ in range(5000):
                n += 1
                channel = rng.choice(CHANNELS)
                t = Ticket(
                    ticket_id=uuid.UUID(int=rng.getrandbits(128)),
                    number=f"B{n:09d}",
                    channel=channel,
                    category=rng.choice(CATEGORIES),
                    urgency="urgent" if rng.random() < 0.1 else "normal",
                    customer_id=f"bench-{n % 50000}",
                    created_at=v0 - timedelta(seconds=rng.uniform(0, 86_400)),
                    live=channel == "messaging" and rng.random() < 0.3,
                    status="in_progress",
                    new=True,
                )
                batch.append(t)
            prepared = bulk.prepare(batch, rules)
            for t in prepared:
                settle(t)
            prepared = [t for t in prepared if t.clocks]
            room = clocks - loaded
            chosen = []
            for t in prepared:
                if room <= 0:
                    break
                if len(t.clocks) > room:
                    t.clocks = dict(list(t.clocks.items())[:room])
                chosen.append(t)
                room -= len(t.clocks)
            loaded += await bulk.load(conn, chosen, now=v0)
            expected.update((t.ticket_id, k.value) for t in chosen for k in t.clocks)
            if n % 50_000 == 0 or loaded >= clocks:
                say(f"  loaded {loaded:,} clocks ({loaded / (time.monotonic() - started):,.0f}/s)")
        await conn.execute("ANALYZE clocks; ANALYZE tickets")
    finally:
        await conn.close()
    return expected, time.monotonic() - started


# --- the sla process ----------------------------------------------------------------------------


def worker(control: Path, port: int) -> None:
    """sla on the controlled clock (run in a child process by the bench)."""
    import uvicorn

    from ticketloop_sla.app import create_app
    from ticketloop_sla.settings import SlaSettings

    app = create_app(SlaSettings(), clock=ControlledClock(control))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def pending(url: str, until: datetime) -> tuple[int, int]:
    """Cycles still needing the timer by `until`, and outbox rows not yet published."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        due = await conn.fetchval("SELECT count(*) FROM clocks WHERE next_at <= $1", until)
        unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(due), int(unsent)
    finally:
        await conn.close()


async def read_breaches(
    platform: PlatformSettings, say: Say
) -> tuple[list[tuple[str, str, int, float, float, str]], Counter[str]]:
    """(ticket, metric, cycle, due epoch, publish epoch, event id) of every `sla.breached` on the
    topic, and how many events of each type the topic holds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = Topics(platform.topic_prefix).for_family("sla")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=platform.kafka_bootstrap,
        group_id=None,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    out = []
    types: Counter[str] = Counter()
    try:
        parts = [TopicPartition(topic, p) for p in range(platform.topic_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = 0
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
            for records in batch.values():
                for r in records:
                    seen += 1
                    types[dict(r.headers).get("type", b"?").decode()] += 1
                    if b'"sla.breached.v1"' not in r.value[:200]:
                        continue
                    e = json.loads(r.value)
                    d = e["data"]
                    out.append(
                        (
                            d["ticket_id"],
                            d["clock"],
                            d.get("cycle", 1),
                            datetime.fromisoformat(d["breached_at"]).timestamp(),
                            r.timestamp / 1000,
                            e["id"],
                        )
                    )
            ends = [(await consumer.position(tp), consumer.highwater(tp)) for tp in parts]
            if not batch and all(h is not None and pos >= h for pos, h in ends):
                break
        say(f"  read {seen:,} sla events back from the topic")
    finally:
        await consumer.stop()
    return out, types


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_sla(
    *, clocks: int, real_seconds: float, fast_seconds: float, speed: float, replicas: int, json_path: Path, say: Say
) -> int:
    """Run the SLA benchmark; exit status 0 when nothing was missed or doubled."""
    data = Path(tempfile.mkdtemp(prefix="ticketloop-bench-sla-"))
    pg = EmbeddedPostgres(data / "pg", free_port())
    broker = EmbeddedBroker(free_port(), log_path=data / "broker.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        say(f"PostgreSQL and the broker: starting (data in {data})")
        pg.start()
        broker.start()
        url = pg.url("ticketloop_sla")
        platform = PlatformSettings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(ensure_database(url))
        from ticketloop_sla.app import MIGRATIONS

        upgrade(MIGRATIONS, url)
        asyncio.run(ensure_topics(platform, Topics(platform.topic_prefix).all()))
        asyncio.run(install_rules(url))
        say(f"loading {clocks:,} open clocks through the bulk path")
        expected, load_seconds = asyncio.run(load_clocks(url, clocks=clocks, seed=7, say=say))
        say(f"  {len(expected):,} clocks due within the day, loaded in {load_seconds:.1f}s")

        control = data / "clock.json"
        start = Phase("real time", time.time() + 3600, V0.timestamp(), 0.0)  # frozen at V0 until we start
        write_phase(control, start)
        env = {
            **os.environ,
            "TICKETLOOP_SLA_DATABASE_URL": url,
            "TICKETLOOP_KAFKA_BOOTSTRAP": broker.bootstrap,
            "TICKETLOOP_SLA_MIGRATE_ON_START": "false",
            "TICKETLOOP_SLA_CONSUMER_ENABLED": "false",
            "TICKETLOOP_LOG_LEVEL": "WARNING",
            # The bench's clock runs faster than real time and jumps: the timer's sleep until the
            # next due instant, in real seconds, must not outlast what the jump makes due.
            "TICKETLOOP_SLA_TIMER_MAX_IDLE_SECONDS": os.environ.get("TICKETLOOP_SLA_TIMER_MAX_IDLE_SECONDS", "0.5"),
        }
        ports = [free_port() for _ in range(replicas)]
        for n, port in enumerate(ports):
            log = (data / f"sla-{n + 1}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ticketloop_embedded.bench_sla", str(control), str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        say(f"sla: {replicas} process(es) sharing the due clocks")
        deadline = time.monotonic() + 300  # a busy machine starts a process slowly
        for port, proc in zip(ports, procs, strict=True):
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"sla did not get ready; see the logs in {data}")
                time.sleep(0.2)
        phases: list[Phase] = []
        now = time.time()
        phases.append(Phase("real time", now, V0.timestamp(), 1.0))
        write_phase(control, phases[-1])
        say(f"phase 1: the clock at real speed for {real_seconds:.0f}s")
        time.sleep(real_seconds)
        now = time.time()
        v = phases[-1].v0 + (now - phases[-1].r0) * phases[-1].speed
        phases.append(Phase(f"{speed:g}x", now, v, speed))
        write_phase(control, phases[-1])
        hours = fast_seconds * speed / 3600
        say(f"phase 2: {speed:g} times faster for {fast_seconds:.0f}s ({hours:.1f} hours of due clocks)")
        time.sleep(fast_seconds)
        now = time.time()
        end = V0 + DAY
        phases.append(Phase("burst", now, end.timestamp(), 0.0))
        write_phase(control, phases[-1])
        jump_v = phases[-2].v0 + (now - phases[-2].r0) * phases[-2].speed
        say(
            f"phase 3: the clock jumps to the end of the day: {(end.timestamp() - jump_v) / 3600:.1f} hours due at once"
        )
        burst_started = now
        cpu_at_burst = sum(cpu_seconds(p.pid) for p in procs)
        while True:
            still_due, unsent = asyncio.run(pending(url, end))
            say(f"  {still_due:,} cycles still due, {unsent:,} events not yet published")
            if still_due == 0 and unsent == 0:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"an sla process died; see the logs in {data}")
            time.sleep(1)
        burst_cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_at_burst
        rss = max(peak_rss_mib(p.pid) for p in procs)
        say("reading the breaches back")
        breaches, types = asyncio.run(read_breaches(platform, say))
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
        broker.stop()
        pg.stop()

    # Doubled: one cycle breached by two announcements (two event ids). The same announcement
    # on the topic twice (a batch the relay sent again after a send timed out: at-least-once,
    # absorbed by every consumer's inbox) is counted apart, as resent.
    ids_per_key: dict[tuple[str, str, int], set[str]] = {}
    for b in breaches:
        ids_per_key.setdefault((b[0], b[1], b[2]), set()).add(b[5])
    keys = Counter({key: len(ids) for key, ids in ids_per_key.items()})
    doubled = sum(1 for n in keys.values() if n > 1)
    resent = len(breaches) - len({b[5] for b in breaches})
    found = {(uuid.UUID(t), k) for (t, k, _c) in keys}
    missed = len(expected - found)
    by_phase: dict[str, list[float]] = {p.name: [] for p in phases}
    last_publish = 0.0
    for _t, _k, cycle, due, published, _id in breaches:
        if cycle != 1:
            continue
        where = reached(phases, due)
        if where is None:
            continue
        name, real = where
        by_phase[name].append(published - real)
        if name == "burst":
            last_publish = max(last_publish, published)
    burst = by_phase["burst"]
    report: dict[str, Any] = {
        "clocks_loaded": clocks,
        "load_seconds": round(load_seconds, 1),
        "load_clocks_per_second": round(clocks / load_seconds),
        "due_within_day": len(expected),
        "breach_events": len(breaches),
        "missed": missed,
        "doubled": doubled,
        "resent_on_the_topic": resent,
        "sla_replicas": replicas,
        "sla_peak_rss_mib_per_process": round(rss, 1),
        "phases": {
            name: {
                "breaches": len(values),
                "lateness_p50_s": round(pct(values, 0.5), 3),
                "lateness_p99_s": round(pct(values, 0.99), 3),
                "lateness_max_s": round(max(values), 3) if values else None,
            }
            for name, values in by_phase.items()
        },
        "burst_breaches_per_second": round(len(burst) / max(1e-9, last_publish - burst_started)) if burst else None,
        # CPU of the sla processes (timer and relay) from the jump until everything was published.
        "burst_sla_cpu_seconds": round(burst_cpu, 2),
        "burst_sla_cpu_ms_per_breach": round(burst_cpu * 1000 / len(burst), 3) if burst else None,
        "sla_events": dict(types.most_common()),
        "sla_events_per_breach": round(sum(types.values()) / len(breaches), 2) if breaches else None,
    }
    say("")
    say(f"loaded {clocks:,} open clocks in {load_seconds:.1f}s ({report['load_clocks_per_second']:,}/s)")
    for name, f in report["phases"].items():
        say(
            f"{name:>10}: {f['breaches']:>8,} breaches, lateness p50 {f['lateness_p50_s']}s, "
            f"p99 {f['lateness_p99_s']}s, max {f['lateness_max_s']}s"
        )
    say(f"burst: {report['burst_breaches_per_second']} breaches/s sustained")
    say(
        f"burst: {report['burst_sla_cpu_ms_per_breach']} ms of sla CPU per breach; "
        f"{report['sla_events_per_breach']} sla events per breach ({report['sla_events']})"
    )
    say(f"missed {missed}, doubled {doubled} (the same announcement resent on the topic: {resent})")
    say(f"sla peak RSS {rss:.0f} MiB (largest of {replicas} process(es))")
    json_path.write_text(json.dumps(report, indent=2))
    say(f"figures written to {json_path}")
    return 0 if missed == 0 and doubled == 0 else 1


if __name__ == "__main__":
    worker(Path(sys.argv[1]), int(sys.argv[2]))
