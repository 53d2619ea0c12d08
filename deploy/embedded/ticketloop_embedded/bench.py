"""`ticketloop bench` (`make bench`): ticketloop against a baseline on the same machine, in one
run, with the same load client and the same body; then the whole loop.

1. baseline: a minimal FastAPI app (same validation, one INSERT) — accepted/s and latency;
2. ticketloop `POST /v1/tickets`, same client, same concurrency — accepted/s, latency, ratio;
3. the whole loop for that burst: counted in every service's database (assigned in routing and
   shown in intake, SLA clocks in sla, a fact in retrospective), not assumed — drain time after
   the last POST and tickets/s through the loop;
4. a steady rate: POST → `ticket.assigned` on the topic, p50/p99;
plus the largest outbox backlog and consumer lag seen, and the RSS of every process. Figures are
printed and written as JSON.

The load only posts, as the baseline's does: it neither subscribes to webhooks nor reads its
tickets back, so no acknowledgement reaches it and nobody answers: a live session's 30-second
access clock breaches during the run, and in a burst longer than 10 minutes (the default 25,000
tickets on two cores) the first tickets' acknowledgement and first-response clocks breach and
escalate while it drains: that work is in the figures, as it would be in a team that fell behind.

With `--replicas routing=2,...` it also reports, per process of each replicated service, the
partitions its consumer owns, the events it handled in the burst, the duplicates its inbox
absorbed and the largest lag it saw; and checks that nothing was handled twice (the events each
service's processes counted as handled against its inbox rows, and no ticket assigned twice).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import uvloop
from aiokafka import AIOKafkaConsumer

from ticketloop_embedded.loadclient import Result, closed_loop, open_loop, post_request
from ticketloop_embedded.organisations import uncapped_env
from ticketloop_embedded.ports import free_port, wait_for_port
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Say, Stack, StackConfig
from ticketloop_embedded.workload import mix_payload
from ticketloop_shared.db import asyncpg_dsn, ensure_database
from ticketloop_shared.events import Topics

CHANNEL_KEY = "tl-dev-channel-key"
CATEGORIES = ["billing", "product_quality", "logistics_delay", "account"]


def ticket_body(i: int) -> bytes:
    """The friendly body of earlier benchmarks (`--body simple`): one channel, 5,000 recurring
    customers, a short text."""
    return json.dumps(
        {
            "channel": "web",
            "customer": {"id": f"bench-{i % 5000}", "name": "Bench Customer", "contact": "bench@example.com"},
            "category": CATEGORIES[i % 4],
            "subject": f"benchmark ticket {i:06d}",  # a distinct problem each (not a repeat contact)
            "description": "measuring the loop",
        }
    ).encode()


def mix_body(i: int) -> bytes:
    """Ticket `i` of the realistic mix (`workload.mix_payload`), the default body."""
    return json.dumps(mix_payload(i), ensure_ascii=False).encode()


BODIES: dict[str, Callable[[int], bytes]] = {"mix": mix_body, "simple": ticket_body}


def request_maker(body: str) -> Callable[[int], bytes]:
    """Request `i` with the chosen body, the same for the baseline and ticketloop."""
    make = BODIES[body]
    return lambda i: post_request("/v1/tickets", make(i), {"X-Api-Key": CHANNEL_KEY})


_MIX = request_maker("mix")


def steady_request(i: int) -> bytes:
    """Request `i` of a steady run: the mix, numbered past any burst's tickets (the same report
    again would be a repeat contact: 200, no new ticket)."""
    return _MIX(10_000_000 + i)


def prepared(make: Callable[[int], bytes], start: int, count: int) -> Callable[[int], bytes]:
    """Requests `start`.. built before the clock starts: the load client shares the machine, and
    building a mixed body costs more than sending it."""
    built = [make(start + i) for i in range(count)]
    return lambda i: built[i]


@dataclass
class Figures:
    """One load run, as printed and written."""

    requests: int
    accepted_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int

    @classmethod
    def of(cls, r: Result) -> Figures:
        """Summarise a load client result."""
        return cls(
            requests=r.ok + r.errors + sum(n for s, n in r.statuses.items() if not 200 <= s < 300),
            accepted_per_s=round(r.rate, 1),
            p50_ms=round(r.percentile(50) * 1000, 1),
            p95_ms=round(r.percentile(95) * 1000, 1),
            p99_ms=round(r.percentile(99) * 1000, 1),
            errors=r.errors + sum(n for s, n in r.statuses.items() if not 200 <= s < 300),
        )

    def line(self) -> str:
        """One line for the terminal."""
        return (
            f"{self.accepted_per_s:8.1f} tickets/s  p50 {self.p50_ms:7.1f} ms  p95 {self.p95_ms:7.1f} ms  "
            f"p99 {self.p99_ms:7.1f} ms  errors {self.errors}"
        )


@dataclass
class Report:
    """Everything the bench measured."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    baseline: Figures | None = None
    ticketloop: Figures | None = None
    ratio_to_baseline: float | None = None
    loop: dict[str, Any] = field(default_factory=dict)
    steady: dict[str, Any] = field(default_factory=dict)
    max_outbox_backlog: int = 0
    max_consumer_lag: int = 0
    rss_mib: dict[str, float] = field(default_factory=dict)
    # CPU time each process spent per ticket from the start of the burst until it had drained:
    # where the floor is on a machine whose cores are all busy.
    cpu_ms_per_ticket: dict[str, float] = field(default_factory=dict)
    # Per process of a replicated service: replica, partitions, handled, duplicates, max lag.
    replicas: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per service: events its processes counted as handled, its inbox rows, tickets assigned twice.
    handled_once: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: str = ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([-+0-9.eE]+|NaN|[+-]Inf)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of metric `name` in a Prometheus exposition, with their labels."""
    found = []
    for match in _SAMPLE.finditer(text):
        if match.group(1) == name:
            found.append((dict(_LABEL.findall(match.group(2) or "")), float(match.group(3))))
    return found


@dataclass
class ProcessView:
    """What one service process's /metrics says about its consumer."""

    replica: str = ""
    partitions: int = 0
    handled: float = 0.0
    duplicates: float = 0.0
    lag: float = 0.0

    @classmethod
    def of(cls, text: str) -> ProcessView:
        """Read it from an exposition."""
        view = cls()
        for labels, value in samples(text, "ticketloop_replica_info"):
            if value:
                view.replica = labels.get("replica", "")
        view.partitions = int(sum(v for _, v in samples(text, "ticketloop_consumer_partitions_assigned")))
        for labels, value in samples(text, "ticketloop_events_consumed_total"):
            if labels.get("outcome") == "handled":
                view.handled += value
            elif labels.get("outcome") == "duplicate":
                view.duplicates += value
        view.lag = sum(v for _, v in samples(text, "ticketloop_consumer_lag"))
        return view


async def process_views(stack: Stack, client: httpx.AsyncClient) -> dict[str, ProcessView]:
    """Every service process's consumer view, by process name."""
    views = {}
    for name, proc in stack.services.items():
        try:
            views[name] = ProcessView.of((await client.get(f"{proc.url}/metrics")).text)
        except httpx.HTTPError:
            continue
    return views


_POOLS: dict[tuple[str, int], asyncpg.Pool] = {}


async def watch_pool(stack: Stack, database: str) -> asyncpg.Pool:
    """The bench's own kept connections to one database, for its counting and sampling.

    A connection per count (a PostgreSQL backend forked and authenticated each time, several
    times a second) cost PostgreSQL more CPU than some services' work, and was counted as theirs."""
    dsn = asyncpg_dsn(stack.pg.url(database))
    key = (dsn, id(asyncio.get_running_loop()))
    pool = _POOLS.get(key)
    if pool is None or pool.is_closing():
        pool = _POOLS[key] = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
    return pool


async def close_watch_pools() -> None:
    """Close the kept connections of this event loop (before the stack stops)."""
    loop = id(asyncio.get_running_loop())
    for key in [k for k in _POOLS if k[1] == loop]:
        await _POOLS.pop(key).close()


class Sampler:
    """Samples outbox backlogs (every service's database) and consumer lag (every service's
    /metrics) every second, keeping the largest seen."""

    def __init__(self, stack: Stack, report: Report) -> None:
        self.stack = stack
        self.report = report
        self.max_lag: dict[str, float] = {}

    async def outbox_backlog(self) -> int:
        """Rows committed but not yet published, summed over the services."""
        total = 0
        for s in SERVICES:
            pool = await watch_pool(self.stack, s.database)
            total += int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") or 0)
        return total

    async def consumer_lag(self, client: httpx.AsyncClient) -> int:
        """Sum of the `ticketloop_consumer_lag` gauges every service exposes (the largest seen
        by each process is kept too)."""
        total = 0.0
        for name, view in (await process_views(self.stack, client)).items():
            self.max_lag[name] = max(self.max_lag.get(name, 0.0), view.lag)
            total += view.lag
        return int(total)

    async def run(self) -> None:
        """Sample until cancelled."""
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                try:
                    self.report.max_outbox_backlog = max(self.report.max_outbox_backlog, await self.outbox_backlog())
                    self.report.max_consumer_lag = max(self.report.max_consumer_lag, await self.consumer_lag(client))
                except (OSError, asyncpg.PostgresError):
                    pass
                await asyncio.sleep(1.0)


async def loop_counts(stack: Stack) -> dict[str, int]:
    """How far every service got, from its own database."""
    queries = {
        "intake_tickets": ("intake", "SELECT count(*) FROM tickets"),
        "intake_assigned": ("intake", "SELECT count(*) FROM tickets WHERE assignee_id IS NOT NULL"),
        "routing_assigned": ("routing", "SELECT count(*) FROM assignments WHERE agent_id IS NOT NULL"),
        "sla_with_clocks": ("sla", "SELECT count(DISTINCT ticket_id) FROM clocks"),
        "retrospective_facts": ("retrospective", "SELECT count(*) FROM ticket_facts"),
    }
    counts = {}
    for label, (service, query) in queries.items():
        pool = await watch_pool(stack, f"ticketloop_{service}")
        counts[label] = int(await pool.fetchval(query) or 0)
    return counts


async def wait_for_loop(
    stack: Stack, expected: int, say: Say, timeout: float = 600, base: dict[str, int] | None = None
) -> float | None:
    """Seconds until every service has counted `expected` tickets (None if it never did); with
    `base` (an earlier `loop_counts`), `expected` tickets more than it counted then."""
    started = time.monotonic()
    last = 0.0
    base = base or {}
    while time.monotonic() - started < timeout:
        counts = await loop_counts(stack)
        if all(v - base.get(k, 0) >= expected for k, v in counts.items()):
            return time.monotonic() - started
        if time.monotonic() - last > 2:
            last = time.monotonic()
            say(f"    draining: {counts}")
        await asyncio.sleep(0.25)
    return None


async def _progress(stack: Stack, say: Say, label: str) -> None:
    base = (await loop_counts(stack))["intake_tickets"]
    while True:
        await asyncio.sleep(2)
        now = await loop_counts(stack)
        say(f"    {label}: {now['intake_tickets'] - base} accepted so far; loop {now}")


async def check_handled_once(stack: Stack, settle: float = 15) -> dict[str, dict[str, Any]]:
    """Per service: the events its processes counted as handled against the rows of its inbox
    (one per event handled: equal unless an event was handled twice), and for routing the
    tickets announced as assigned more than once.

    Counters and rows are read while nothing moves (the same counts before and after the rows
    are read) if that happens within `settle` seconds; a long run keeps receiving SLA breaches,
    so what is committed but not yet counted is reported as in flight, never as a doubling."""
    deadline = time.monotonic() + settle
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            before = await process_views(stack, client)
            checks = await _handled_once(stack, before)
            after = await process_views(stack, client)
            if {n: v.handled for n, v in before.items()} == {n: v.handled for n, v in after.items()}:
                return checks
            if time.monotonic() > deadline:
                return checks
            await asyncio.sleep(0.5)


async def _handled_once(stack: Stack, views: dict[str, ProcessView]) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    for sdef in stack.config.services:
        handled = sum(v.handled for n, v in views.items() if stack.services[n].sdef.name == sdef.name)
        conn = await asyncpg.connect(asyncpg_dsn(stack.pg.url(sdef.database)))
        try:
            inbox = int(await conn.fetchval("SELECT count(*) FROM inbox") or 0)
            # An event handled twice is counted twice against one inbox row (handled > rows); a
            # row whose handling is committed but not yet counted (in flight while SLA breaches
            # keep arriving) makes rows > handled: reported, not a doubling.
            check: dict[str, Any] = {
                "handled": int(handled),
                "inbox_rows": inbox,
                "in_flight": max(inbox - int(handled), 0),
                "ok": int(handled) <= inbox,
            }
            if sdef.name == "routing":
                twice = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM (SELECT key FROM outbox WHERE event_type LIKE 'ticket.assigned.%'"
                        " GROUP BY key HAVING count(*) > 1) AS twice"
                    )
                    or 0
                )
                check["tickets_assigned_twice"] = twice
                check["ok"] = check["ok"] and twice == 0
        finally:
            await conn.close()
        checks[sdef.name] = check
    return checks


async def steady(
    stack: Stack, *, rate: float, seconds: float, say: Say, make: Callable[[int], bytes] | None = None
) -> dict[str, Any]:
    """POST at a steady rate; read `ticket.assigned` off the topic to time POST → assigned.
    `make(i)` builds request `i` (default: the bench's own body, numbered past the burst's)."""
    platform = stack.platform()
    consumer = AIOKafkaConsumer(
        Topics(platform.topic_prefix).for_family("ticket"),
        bootstrap_servers=platform.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=500)  # join at the end of the log...
    deadline = time.monotonic() + 10
    while len(consumer.assignment()) < platform.topic_partitions and time.monotonic() < deadline:
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():  # ...with every partition's position fixed before the first POST
        await consumer.position(tp)
    seen: dict[str, float] = {}

    async def watch() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    if event["type"] == "ticket.assigned.v1":
                        seen.setdefault(event["subject"], now)

    watcher = asyncio.create_task(watch())
    port = stack.services["intake"].port
    make = make or steady_request
    result = await open_loop(port, make, rate=rate, seconds=seconds, keep_bodies=True)
    posted = {json.loads(body)["id"]: due for due, body in result.bodies}
    deadline = time.monotonic() + 30
    while any(t not in seen for t in posted) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    watcher.cancel()
    await consumer.stop()
    delays = sorted(seen[t] - due for t, due in posted.items() if t in seen)

    def pct(p: float) -> float:
        return round(delays[min(len(delays) - 1, int(len(delays) * p / 100))] * 1000, 1) if delays else float("nan")

    figures = Figures.of(result)
    return {
        "rate": rate,
        "seconds": seconds,
        "post": asdict(figures),
        "post_to_assigned_p50_ms": pct(50),
        "post_to_assigned_p99_ms": pct(99),
        "not_assigned_within_30s": sum(1 for t in posted if t not in seen),
    }


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """User + system CPU seconds so far of each process tree: the services, the broker,
    PostgreSQL (its postmaster and backends) and this process (load client and samplers)."""

    def tree(pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
            return total
        except psutil.Error:
            return 0.0

    seconds = {name: tree(svc.process.pid) for name, svc in stack.services.items() if svc.process is not None}
    if stack.broker.process is not None:
        seconds["broker"] = tree(stack.broker.process.pid)
    pid_file = stack.pg.data_dir / "postmaster.pid"
    if pid_file.exists():
        seconds["postgres"] = tree(int(pid_file.read_text().split()[0]))
    own = psutil.Process().cpu_times()  # this process alone (the services are its children)
    seconds["bench client"] = own.user + own.system
    return seconds


def rss(stack: Stack) -> dict[str, float]:
    """Resident memory of every service (with its worker processes), PostgreSQL and the broker."""
    sizes: dict[str, float] = {}

    def tree(pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
            return float(sum(p.memory_info().rss for p in procs)) / 2**20
        except psutil.Error:
            return float("nan")

    for name, svc in stack.services.items():
        if svc.process is not None:
            sizes[name] = round(tree(svc.process.pid), 1)
    if stack.broker.process is not None:
        sizes["broker"] = round(tree(stack.broker.process.pid), 1)
    return sizes


async def measure(
    stack: Stack,
    report: Report,
    *,
    tickets: int,
    concurrency: int,
    rate: float,
    seconds: float,
    workers: int,
    skip_baseline: bool,
    say: Say,
    body: str = "mix",
) -> None:
    """The four parts, in order, each on an otherwise idle system."""
    make = request_maker(body)
    say(f"bench: building {tickets + 700} {body} request bodies")
    warm = prepared(make, 20_000_000, 700)
    burst = prepared(make, 0, tickets)
    if not skip_baseline:
        say(f"bench 1/4: baseline, {tickets} tickets from {concurrency} connections")
        port = free_port()
        dsn = asyncpg_dsn(stack.pg.url("bench_baseline"))
        await ensure_database(stack.pg.url("bench_baseline"))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticketloop_embedded.baseline",
                "--port",
                str(port),
                "--dsn",
                dsn,
                "--workers",
                str(workers),
            ],
        )
        try:
            wait_for_port(port, timeout=30)
            await closed_loop(port, warm, total=500, concurrency=concurrency)  # warm-up
            result = await closed_loop(port, burst, total=tickets, concurrency=concurrency)
            report.baseline = Figures.of(result)
            say("  baseline:   " + report.baseline.line())
        finally:
            proc.terminate()
            proc.wait(timeout=20)

    say(f"bench 2/4: ticketloop POST /v1/tickets, {tickets} tickets from {concurrency} connections")
    port = stack.services["intake"].port
    await closed_loop(port, lambda i: warm(500 + i), total=200, concurrency=8)  # warm-up (counted below)
    await wait_for_loop(stack, 200, say)
    sampler_state = Sampler(stack, report)
    sampler = asyncio.create_task(sampler_state.run())
    progress = asyncio.create_task(_progress(stack, say, "burst"))
    async with httpx.AsyncClient(timeout=5) as client:
        views_before = await process_views(stack, client)
    tickets_before = (await loop_counts(stack))["intake_tickets"]
    cpu_before = cpu_seconds(stack)
    first_post = time.monotonic()
    result = await closed_loop(port, burst, total=tickets, concurrency=concurrency)
    last_post = time.monotonic()
    progress.cancel()
    report.ticketloop = Figures.of(result)
    say("  ticketloop: " + report.ticketloop.line())
    if report.baseline is not None:
        report.ratio_to_baseline = round(report.ticketloop.accepted_per_s / report.baseline.accepted_per_s, 3)
        say(f"  ratio to the baseline: {report.ratio_to_baseline:.2f}")

    say("bench 3/4: the whole loop for that burst (counted in every service's database)")
    expected = (await loop_counts(stack))["intake_tickets"]
    drain = await wait_for_loop(stack, expected, say)
    cpu_after = cpu_seconds(stack)
    report.cpu_ms_per_ticket = {
        name: round((cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / max(result.ok, 1), 2) for name in cpu_after
    }
    report.cpu_ms_per_ticket["all"] = round(sum(report.cpu_ms_per_ticket.values()), 2)
    say(f"  CPU ms per ticket, burst to drained: {report.cpu_ms_per_ticket}")
    report.loop = {
        "tickets": result.ok,
        # a repeat contact is accepted (200) and added to the earlier ticket: no new ticket
        "new_tickets": expected - tickets_before,
        "post_seconds": round(last_post - first_post, 2),
        "drained_after_last_post_s": round(drain, 2) if drain is not None else None,
        "loop_tickets_per_s": round(result.ok / (last_post - first_post + drain), 1) if drain is not None else None,
    }
    say(f"  {report.loop}")
    async with httpx.AsyncClient(timeout=5) as client:
        views_after = await process_views(stack, client)
    replicated = {n for n, c in stack.config.replicas.items() if c > 1}
    for name, svc in stack.services.items():
        if svc.sdef.name not in replicated or name not in views_after:
            continue
        after, before = views_after[name], views_before.get(name, ProcessView())
        report.replicas[name] = {
            "replica": after.replica,
            "partitions": after.partitions,
            "handled_in_burst": int(after.handled - before.handled),
            "duplicates_in_burst": int(after.duplicates - before.duplicates),
            "max_lag": int(sampler_state.max_lag.get(name, after.lag)),
        }
    if report.replicas:
        say("  per replica (partitions owned, events handled in the burst, duplicates absorbed, largest lag):")
        for name, figures in report.replicas.items():
            say(f"    {name:<16} {figures}")

    say(f"bench 4/4: steady {rate:.0f} tickets/s for {seconds:.0f}s, POST -> ticket.assigned read from the topic")
    report.steady = await steady(stack, rate=rate, seconds=seconds, say=say, make=lambda i: make(10_000_000 + i))
    say(f"  {report.steady}")
    sampler.cancel()
    report.handled_once = await check_handled_once(stack)
    doubled = {name: check for name, check in report.handled_once.items() if not check["ok"]}
    say(
        "  nothing handled twice: no service counted more handled events than its inbox has rows, "
        "no ticket assigned twice"
        if not doubled
        else f"  HANDLED TWICE OR MISCOUNTED: {doubled}"
    )
    report.rss_mib = rss(stack)
    await close_watch_pools()
    say(f"  largest outbox backlog {report.max_outbox_backlog}, largest consumer lag {report.max_consumer_lag}")
    say(f"  RSS MiB: {report.rss_mib}")


def bench(
    *,
    tickets: int,
    concurrency: int,
    rate: float,
    seconds: float,
    skip_baseline: bool,
    json_path: Path,
    say: Say,
    replicas: dict[str, int] | None = None,
    split: frozenset[str] = frozenset(),
    body: str = "mix",
) -> int:
    """Run the benchmark on free ports in a temporary folder; print and write the figures."""
    workers = int(os.environ.get("TICKETLOOP_INTAKE_HTTP_WORKERS", "1"))
    root = Path(tempfile.mkdtemp(prefix="ticketloop-bench-"))
    config = StackConfig(
        data_dir=root,
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"TICKETLOOP_LOG_LEVEL": "WARNING", **uncapped_env()},
        replicas=dict(replicas or {}),
        split=split,
    )
    processes = sum(max(1, config.replicas.get(s.name, 1)) for s in SERVICES) + len(split)
    cpus = os.cpu_count() or 1
    limits = f"{cpus} CPU(s) for {processes} service processes, PostgreSQL, the broker and the load client: " + (
        "replicas here show how the work is split and that nothing is handled twice; past the cores, an extra "
        "process adds contention (more group members, connections, context switches), not throughput"
        if processes + 3 > cpus
        else "enough cores for one process each"
    )
    report = Report(
        machine={"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        settings={
            "tickets": tickets,
            "concurrency": concurrency,
            "rate": rate,
            "seconds": seconds,
            "intake_workers": workers,
            "replicas": dict(config.replicas),
            "separate_consumers": sorted(split),
            "body": body,
        },
    )
    report.limits = limits
    stack = Stack(config, say=say)
    say(f"limits: {limits}")
    try:
        stack.start()
        uvloop.run(
            measure(
                stack,
                report,
                tickets=tickets,
                concurrency=concurrency,
                rate=rate,
                seconds=seconds,
                workers=workers,
                skip_baseline=skip_baseline,
                say=say,
                body=body,
            )
        )
    finally:
        stack.stop()
    json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    say(f"figures written to {json_path}")
    failed = (
        report.ticketloop is None
        or report.ticketloop.errors > 0
        or not report.loop.get("drained_after_last_post_s")
        or not all(check["ok"] for check in report.handled_once.values())
    )
    return 1 if failed else 0


async def loop_figures(
    stack: Stack, *, rate: float, seconds: float, say: Say, make: Callable[[int], bytes] | None = None
) -> dict[str, Any]:
    """The loop's own figures for a steady run (what `bench-workspace` compares with and without
    live connections): `steady`'s POST and POST → assigned figures, tickets/s through the whole
    loop (from the first POST until every service counted every ticket) and CPU ms per ticket
    of each process over that time."""
    base = await loop_counts(stack)
    first: list[float] = []
    build = make or steady_request

    def timed(i: int) -> bytes:
        if not first:
            first.append(time.monotonic())
        return build(i)

    cpu_before = cpu_seconds(stack)
    figures = await steady(stack, rate=rate, seconds=seconds, say=say, make=timed)
    tickets = (await loop_counts(stack))["intake_tickets"] - base["intake_tickets"]
    drained = await wait_for_loop(stack, tickets, say, base=base)
    cpu_after = cpu_seconds(stack)
    through = time.monotonic() - first[0] if first and drained is not None else None
    figures["tickets"] = tickets
    figures["loop_tickets_per_s"] = round(tickets / through, 1) if through else None
    figures["cpu_ms_per_ticket"] = {
        name: round((cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / max(tickets, 1), 2) for name in cpu_after
    }
    return figures
