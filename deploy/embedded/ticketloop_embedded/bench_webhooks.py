"""`ticketloop bench-webhooks` (`make bench-webhooks`): webhook deliveries on a throw-away
embedded stack, against the targets of issue 20.

A receiver runs inside this process (plain asyncio HTTP/1.1 on 127.0.0.1, keep-alive, answers
204 at once or 503 during the outage, verifies nothing) and records each request's
`webhook-id`, arrival (wall clock), path and body. A channel subscription (the development
channel key: every channel event but `survey.due`) and an admin subscription (a few catalog
types) point at it. Every ticket is posted on the bench's body mix and answered at once by an
admin reply through intake's API, on the same keep-alive connection.

1. cost: CPU ms per ticket across the stack's processes, before any subscription exists, then
   with the channel's, then with both (each from the first POST until everything drained,
   deliveries included; as measured and above what the processes burn at idle);
2. latency at a steady rate: envelope `time` of the event (the `timestamp` of the delivery body,
   set by the emitting service in the transaction that wrote it) → arrival at the receiver;
3. throughput: both endpoints paused while a burst piles deliveries up, then resumed: the rate at
   which the backlog arrives (the middle 80 % of arrivals), with the worker's settings;
4. outage: the receiver answers 503 for `--outage` seconds while tickets keep coming, with the
   retry schedule shortened by settings; then every delivery must arrive, none twice by
   `webhook-id`, in order per ticket (checked against the deliveries' sequence in intake's
   database).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import uvloop

from ticketloop_embedded.bench import CHANNEL_KEY, cpu_seconds, ticket_body, wait_for_loop
from ticketloop_embedded.loadclient import Result, open_loop, post_request
from ticketloop_embedded.organisations import uncapped_env
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Say, Stack, StackConfig
from ticketloop_shared.auth import Role, token_for
from ticketloop_shared.db import asyncpg_dsn

CHANNEL_TYPES = [
    "ticket.acknowledged",
    "ticket.replied",
    "ticket.waiting",
    "ticket.updated",
    "ticket.plan_committed",
    "ticket.resolved",
    "ticket.closed",
    "ticket.reopened",
]
ADMIN_TYPES = ["ticket.created.v1", "ticket.assigned.v1", "ticket.replied.v1", "ticket.status_changed.v1"]


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit-tested)


def percentile(values: Sequence[float], p: float) -> float:
    """The value at percentile `p` (0–100) by the nearest-rank rule; NaN when there is none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n·p/100), at least the first
    return ordered[min(len(ordered), int(rank)) - 1]


def sustained_rate(times: Sequence[float], trim: float = 0.1) -> float:
    """Arrivals per second over the middle of a run (the first and last `trim` of the arrivals
    left out, so the ramp-up and the tail do not count); 0 with too few arrivals."""
    ordered = sorted(times)
    lo, hi = int(len(ordered) * trim), int(len(ordered) * (1 - trim)) - 1
    if hi - lo < 2 or ordered[hi] <= ordered[lo]:
        return 0.0
    return (hi - lo) / (ordered[hi] - ordered[lo])


def duplicates(ids: Iterable[str]) -> int:
    """How many arrivals repeat an id already seen."""
    seen: set[str] = set()
    twice = 0
    for i in ids:
        if i in seen:
            twice += 1
        seen.add(i)
    return twice


@dataclass(frozen=True)
class OrderCheck:
    """Per-group (endpoint and ticket) order of first arrivals against the sending order."""

    groups: int
    out_of_order_groups: int
    inversions: int


def order_check(arrived: Iterable[str], position: Mapping[str, tuple[str, int]]) -> OrderCheck:
    """`arrived`: ids in arrival order (repeats ignored); `position`: id → (group, sequence).
    A group is out of order when an id arrives after one of a higher sequence of its group."""
    highest: dict[str, int] = {}
    bad: set[str] = set()
    inversions = 0
    seen: set[str] = set()
    for i in arrived:
        if i in seen or i not in position:
            continue
        seen.add(i)
        group, seq = position[i]
        top = highest.get(group)
        if top is not None and seq < top:
            bad.add(group)
            inversions += 1
        highest[group] = seq if top is None else max(top, seq)
    return OrderCheck(groups=len(highest), out_of_order_groups=len(bad), inversions=inversions)


def latency_figures(delays: Sequence[float]) -> dict[str, float | int]:
    """Count, p50, p99 and max of delays in seconds, as milliseconds."""
    return {
        "count": len(delays),
        "p50_ms": round(percentile(delays, 50) * 1000, 1),
        "p99_ms": round(percentile(delays, 99) * 1000, 1),
        "max_ms": round(max(delays) * 1000, 1) if delays else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# The receiver


@dataclass
class Arrival:
    """One request as the receiver saw it."""

    path: str
    webhook_id: str
    at: float  # wall clock, seconds since the epoch
    status: int
    body: bytes


class Receiver:
    """A minimal keep-alive HTTP/1.1 server: 204 (or 503 while `failing`), every request kept."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.failing = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and hang up on the keep-alive connections (their handlers then end,
        not cancelled with the loop)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.close()
        await asyncio.sleep(0.1)

    def url(self, path: str) -> str:
        """This receiver's URL for a path."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                length, webhook_id = 0, ""
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"webhook-id":
                        webhook_id = value.strip().decode()
                body = await reader.readexactly(length)
                status = 503 if self.failing else 204
                path = request_line.split()[1].decode()
                self.arrivals.append(Arrival(path, webhook_id, time.time(), status, body))
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
                    if status == 503
                    else b"HTTP/1.1 204 No Content\r\n\r\n"
                )
        except (OSError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._open.discard(writer)
            writer.close()


def _event_time(arrival: Arrival) -> float:
    return datetime.fromisoformat(json.loads(arrival.body)["timestamp"]).timestamp()


# ---------------------------------------------------------------------------------------------
# The stack


@dataclass
class Report:
    """Everything the bench measured."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    load: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    outage: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)


def _load() -> dict[str, Any]:
    one, five, _ = os.getloadavg()
    return {"loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2), "cpu_percent": psutil.cpu_percent(0.5)}


class Bench:
    """One run: the stack, the receiver, the admin token, and where the ticket numbering is."""

    def __init__(self, stack: Stack, receiver: Receiver, say: Say) -> None:
        self.stack = stack
        self.receiver = receiver
        self.say = say
        self.port = stack.services["intake"].port
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = token_for(stack.platform(), sub="bench-admin", role=Role.ADMIN, name="Bench admin")
        self.next_ticket = 20_000_000
        self.endpoints: dict[str, str] = {}

    async def _db(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.stack.pg.url("ticketloop_intake")))

    async def delivery_counts(self) -> tuple[int, int]:
        """Deliveries in intake's database: all, and still pending."""
        conn = await self._db()
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'pending') AS pending"
                " FROM webhook_deliveries"
            )
        finally:
            await conn.close()
        assert row is not None
        return int(row["total"]), int(row["pending"])

    async def positions(self, since: datetime) -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
        """The sending order of the deliveries created since `since` (id → (endpoint and
        ticket, seq)) and each one's status."""
        conn = await self._db()
        try:
            rows = await conn.fetch(
                "SELECT id, endpoint_id, order_key, seq, status FROM webhook_deliveries WHERE created_at >= $1",
                since,
            )
        finally:
            await conn.close()
        position = {str(r["id"]): (f"{r['endpoint_id']}/{r['order_key']}", int(r["seq"])) for r in rows}
        return position, {str(r["id"]): str(r["status"]) for r in rows}

    async def subscribe(self, owner: str) -> None:
        """The channel's (`owner` "channel") or the admin's subscription, to the receiver."""
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            if owner == "channel":
                made = await client.post(
                    "/v1/channel/webhooks",
                    headers={"X-Api-Key": CHANNEL_KEY},
                    json={"url": self.receiver.url("/channel"), "event_types": CHANNEL_TYPES, "description": "bench"},
                )
            else:
                made = await client.post(
                    "/v1/webhooks",
                    headers={"Authorization": f"Bearer {self.admin}"},
                    json={"url": self.receiver.url("/admin"), "event_types": ADMIN_TYPES, "description": "bench"},
                )
            made.raise_for_status()
        self.endpoints[owner] = made.json()["id"]

    async def set_paused(self, paused: bool) -> None:
        """Pause or resume both endpoints."""
        action = "pause" if paused else "resume"
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            for owner, endpoint_id in self.endpoints.items():
                if owner == "channel":
                    path, headers = f"/v1/channel/webhooks/{endpoint_id}/{action}", {"X-Api-Key": CHANNEL_KEY}
                else:
                    path, headers = f"/v1/webhooks/{endpoint_id}/{action}", {"Authorization": f"Bearer {self.admin}"}
                (await client.post(path, headers=headers)).raise_for_status()

    async def tickets(self, *, rate: float, seconds: float) -> tuple[Result, Result]:
        """Post tickets at `rate` for `seconds`, each answered by an admin reply at once."""
        first = self.next_ticket
        self.next_ticket += int(rate * seconds) + 1
        auth = {"Authorization": f"Bearer {self.admin}"}

        def reply(i: int, body: bytes) -> bytes | None:
            ticket_id = json.loads(body).get("id")
            if ticket_id is None:
                return None
            text = json.dumps({"body": f"bench reply to ticket {first + i}"}).encode()
            return post_request(f"/v1/tickets/{ticket_id}/replies", text, auth)

        replies = Result()
        posted = await open_loop(
            self.port,
            lambda i: post_request("/v1/tickets", ticket_body(first + i), {"X-Api-Key": CHANNEL_KEY}),
            rate=rate,
            seconds=seconds,
            follow=reply,
            followed=replies,
        )
        return posted, replies

    async def drained(self, *, timeout: float, settle: float = 1.5, paused: bool = False) -> float | None:
        """Seconds until every service counted every ticket and no delivery is pending (`paused`:
        they wait) or still being written (the counts unchanged for `settle` seconds); None on
        timeout."""
        started = time.monotonic()
        expected = await self.intake_tickets()
        if await wait_for_loop(self.stack, expected, self.say, timeout=timeout) is None:
            return None
        last: tuple[int, int] | None = None
        shown = 0.0
        while time.monotonic() - started < timeout:
            counts = await self.delivery_counts()
            if (paused or counts[1] == 0) and counts == last:
                return time.monotonic() - started - settle
            if time.monotonic() - shown > 5:
                shown = time.monotonic()
                self.say(f"    deliveries: {counts[0]} written, {counts[1]} pending")
            last = counts
            await asyncio.sleep(settle)
        return None

    async def intake_tickets(self) -> int:
        """Tickets in intake's database."""
        conn = await self._db()
        try:
            return int(await conn.fetchval("SELECT count(*) FROM tickets") or 0)
        finally:
            await conn.close()

    async def idle_rates(self, seconds: float = 10.0) -> dict[str, float]:
        """CPU seconds per second each process burns with no traffic (polls, timers)."""
        before, started = cpu_seconds(self.stack), time.monotonic()
        await asyncio.sleep(seconds)
        after, took = cpu_seconds(self.stack), time.monotonic() - started
        return {name: (after[name] - before.get(name, 0.0)) / took for name in after}

    async def cost(self, *, rate: float, seconds: float, label: str) -> dict[str, Any]:
        """CPU ms per ticket of each process from the first POST until drained: as measured, and
        above idle (what the processes burn with no traffic, measured just before over 10 s,
        taken off for the phase's length: otherwise a slower drain reads as a dearer ticket)."""
        idle = await self.idle_rates()
        before, started = cpu_seconds(self.stack), time.monotonic()
        posted, replies = await self.tickets(rate=rate, seconds=seconds)
        drain = await self.drained(timeout=600)
        after, took = cpu_seconds(self.stack), time.monotonic() - started
        n = max(posted.ok, 1)
        per = {name: round((after[name] - before.get(name, 0.0)) * 1000 / n, 3) for name in after}
        above = {
            name: round((after[name] - before.get(name, 0.0) - idle.get(name, 0.0) * took) * 1000 / n, 3)
            for name in after
        }
        stack_total = round(sum(v for k, v in per.items() if k != "bench client"), 3)
        stack_above = round(sum(v for k, v in above.items() if k != "bench client"), 3)
        figures = {
            "tickets": posted.ok,
            "replies": replies.ok,
            "errors": posted.errors + replies.errors + _failed(posted) + _failed(replies),
            "drained_s": round(drain, 1) if drain is not None else None,
            "phase_s": round(took, 1),
            "idle_cpu_percent": {name: round(rate * 100, 1) for name, rate in idle.items()},
            "cpu_ms_per_ticket": per,
            "stack_cpu_ms_per_ticket": stack_total,
            "cpu_ms_per_ticket_above_idle": above,
            "stack_cpu_ms_per_ticket_above_idle": stack_above,
            "load": _load(),
        }
        self.say(f"  {label}: {stack_total} CPU ms per ticket across the stack, {stack_above} above idle; {figures}")
        return figures


def _failed(result: Result) -> int:
    return sum(n for status, n in result.statuses.items() if not 200 <= status < 300)


def _ok_since(arrivals: Sequence[Arrival], start: int) -> list[Arrival]:
    return [a for a in arrivals[start:] if a.status < 300]


async def measure(bench: Bench, report: Report, opts: Options) -> None:
    """The four parts, in order."""
    say, receiver = bench.say, bench.receiver
    say(f"bench-webhooks 1/4: cost, {opts.cost_rate:g} tickets/s for {opts.cost_seconds:g}s without subscriptions")
    without = await bench.cost(rate=opts.cost_rate, seconds=opts.cost_seconds, label="without subscriptions")
    added: dict[str, dict[str, Any]] = {}
    for owner, label in (("channel", "the channel's subscription"), ("admin", "and the admin's")):
        await bench.subscribe(owner)
        say(f"  the same with {label}")
        start = len(receiver.arrivals)
        with_subs = await bench.cost(rate=opts.cost_rate, seconds=opts.cost_seconds, label=f"with {label}")
        per_ticket = len(_ok_since(receiver.arrivals, start)) / max(with_subs["tickets"], 1)
        above = round(
            with_subs["stack_cpu_ms_per_ticket_above_idle"] - without["stack_cpu_ms_per_ticket_above_idle"], 3
        )
        added["channel" if owner == "channel" else "channel_and_admin"] = {
            "with": with_subs,
            "added_ms_per_ticket": round(with_subs["stack_cpu_ms_per_ticket"] - without["stack_cpu_ms_per_ticket"], 3),
            "added_ms_per_ticket_above_idle": above,
            "deliveries_per_ticket": round(per_ticket, 2),
            "added_ms_per_delivery_above_idle": round(above / per_ticket, 3) if per_ticket else None,
        }
        say(f"  {label} adds {above} CPU ms per ticket above idle ({per_ticket:.2f} deliveries per ticket)")
    report.subscriptions = {"endpoints": bench.endpoints, "channel": CHANNEL_TYPES, "admin": ADMIN_TYPES}
    report.cost = {"without": without, **added}

    say(f"bench-webhooks 2/4: latency at {opts.rate:g} tickets/s (each replied to) for {opts.seconds:g}s")
    start = len(receiver.arrivals)
    load = _load()
    posted, replies = await bench.tickets(rate=opts.rate, seconds=opts.seconds)
    drain = await bench.drained(timeout=600)
    arrived = _ok_since(receiver.arrivals, start)
    firsts: dict[str, Arrival] = {}
    for a in arrived:
        firsts.setdefault(a.webhook_id, a)
    by_path: dict[str, list[float]] = {"/channel": [], "/admin": []}
    for a in firsts.values():
        by_path.setdefault(a.path, []).append(a.at - _event_time(a))
    every = [d for ds in by_path.values() for d in ds]
    report.latency = {
        "measured": "envelope time of the event (the delivery body's `timestamp`, set by the emitting service "
        "inside the transaction that wrote the event) -> arrival at the receiver (wall clock), first arrival of "
        "each webhook-id",
        "tickets": posted.ok,
        "post_p99_ms": round(posted.percentile(99) * 1000, 1),
        "reply_p99_ms": round(replies.percentile(99) * 1000, 1),
        "errors": posted.errors + replies.errors + _failed(posted) + _failed(replies),
        "drained_s": round(drain, 1) if drain is not None else None,
        "all": latency_figures(every),
        "channel": latency_figures(by_path["/channel"]),
        "admin": latency_figures(by_path["/admin"]),
        "load_before": load,
        "load_after": _load(),
    }
    say(f"  {report.latency}")

    say(
        f"bench-webhooks 3/4: throughput, {opts.burst_rate:g} tickets/s for {opts.burst_seconds:g}s, "
        "both endpoints paused"
    )
    await bench.set_paused(True)
    posted, replies = await bench.tickets(rate=opts.burst_rate, seconds=opts.burst_seconds)
    await bench.drained(timeout=900, paused=True)  # every delivery written, waiting for the resume
    total, backlog = await bench.delivery_counts()
    say(f"  {posted.ok} tickets posted, {backlog} deliveries waiting; resuming")
    start = len(receiver.arrivals)
    load = _load()
    cpu_before = cpu_seconds(bench.stack)
    resumed = time.time()
    await bench.set_paused(False)
    drain = await bench.drained(timeout=900)
    cpu_after = cpu_seconds(bench.stack)
    arrived = _ok_since(receiver.arrivals, start)
    times = [a.at for a in arrived]
    elapsed = (max(times) - resumed) if times else 0.0
    report.throughput = {
        "backlog": backlog,
        "arrived": len(arrived),
        "sustained_deliveries_per_s": round(sustained_rate(times), 1),
        "overall_deliveries_per_s": round(len(arrived) / elapsed, 1) if elapsed > 0 else 0.0,
        "drained_s": round(drain, 1) if drain is not None else None,
        "cpu_s_while_draining": {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after},
        "worker": {"batch": opts.batch, "concurrency": opts.concurrency, "poll_seconds": opts.poll},
        "load_before": load,
        "load_after": _load(),
    }
    say(f"  {report.throughput}")

    say(
        f"bench-webhooks 4/4: outage, the receiver answers 503 for {opts.outage:g}s while {opts.outage_rate:g} "
        "tickets/s arrive; then back"
    )
    phase_start = datetime.now().astimezone()
    start = len(receiver.arrivals)
    receiver.failing = True
    outage_end = time.monotonic() + opts.outage
    posted, replies = await bench.tickets(rate=opts.outage_rate, seconds=min(opts.outage, opts.outage_posting))
    while time.monotonic() < outage_end:
        _, pending = await bench.delivery_counts()
        say(f"    receiver down: {pending} deliveries pending, {len(receiver.arrivals) - start} attempts seen")
        await asyncio.sleep(min(10.0, max(0.0, outage_end - time.monotonic())))
    receiver.failing = False
    say("  receiver back")
    back = time.monotonic()
    drain = await bench.drained(timeout=opts.outage * 3 + 600)
    position, status = await bench.positions(phase_start)
    seen = receiver.arrivals[start:]
    ok = [a.webhook_id for a in seen if a.status < 300]
    delivered_ids = set(ok)
    expected = set(position)
    missing = expected - delivered_ids
    order = order_check(ok, position)
    report.outage = {
        "outage_s": opts.outage,
        "tickets": posted.ok,
        "deliveries": len(expected),
        "attempts_refused_with_503": sum(1 for a in seen if a.status == 503),
        "arrived": len(delivered_ids & expected),
        "missing": len(missing),
        "failed_in_db": sum(1 for s in status.values() if s == "failed"),
        "still_pending": sum(1 for s in status.values() if s == "pending"),
        "duplicates_by_webhook_id": duplicates(ok),
        "order": asdict(order),
        "all_delivered_after_back_s": round(time.monotonic() - back, 1) if drain is not None else None,
        "retry": {"base_s": opts.retry_base, "factor": opts.retry_factor, "cap_s": opts.retry_cap, "max_attempts": 50},
    }
    say(f"  {report.outage}")
    report.targets = {
        "1000_deliveries_per_s": report.throughput["sustained_deliveries_per_s"] >= 1000,
        "p99_under_1s": report.latency["all"]["p99_ms"] < 1000,
        "outage_every_delivery_once_in_order": report.outage["missing"] == 0
        and report.outage["duplicates_by_webhook_id"] == 0
        and order.out_of_order_groups == 0,
        "cost_at_most_1ms": report.cost["channel_and_admin"]["added_ms_per_ticket_above_idle"] <= 1.0,
    }
    say(f"targets met: {report.targets}")


@dataclass(frozen=True)
class Options:
    """The knobs of a run (command-line flags)."""

    cost_rate: float = 50
    cost_seconds: float = 20
    rate: float = 100
    seconds: float = 30
    burst_rate: float = 400
    burst_seconds: float = 10
    outage: float = 60
    outage_rate: float = 10
    outage_posting: float = 60
    batch: int = 100
    concurrency: int = 50
    poll: float = 2.0
    retry_base: float = 1.0
    retry_factor: float = 2.0

    @property
    def retry_cap(self) -> float:
        """Retries a few times a minute at most, so 50 attempts outlast the outage."""
        return max(5.0, self.outage / 20)


def bench_webhooks(*, opts: Options, json_path: Path, say: Say) -> int:
    """Run the webhook bench on free ports in a temporary folder; print and write the figures."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-bench-webhooks-"))
    env = {
        "TICKETLOOP_LOG_LEVEL": "WARNING",
        "TICKETLOOP_INTAKE_WEBHOOKS_ALLOW_PRIVATE": "true",
        "TICKETLOOP_INTAKE_WEBHOOKS_BATCH": str(opts.batch),
        "TICKETLOOP_INTAKE_WEBHOOKS_CONCURRENCY": str(opts.concurrency),
        "TICKETLOOP_INTAKE_WEBHOOKS_POLL_SECONDS": str(opts.poll),
        "TICKETLOOP_INTAKE_WEBHOOKS_RETRY_BASE_SECONDS": str(opts.retry_base),
        "TICKETLOOP_INTAKE_WEBHOOKS_RETRY_FACTOR": str(opts.retry_factor),
        "TICKETLOOP_INTAKE_WEBHOOKS_RETRY_CAP_SECONDS": str(opts.retry_cap),
        "TICKETLOOP_INTAKE_WEBHOOKS_MAX_ATTEMPTS": "50",
        # Every reply is the bench admin's: its staff limit (1,200 a minute) would refuse them.
        "TICKETLOOP_RATE_STAFF_PER_MINUTE": "0",
        **uncapped_env(),
    }
    config = StackConfig(
        data_dir=root,
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env=env,
    )
    report = Report(
        machine={"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)},
        settings={**asdict(opts), "env": env},
        load=_load(),
    )
    say(f"load before the run: {report.load} ({os.cpu_count()} CPUs shared with whatever else runs)")
    stack = Stack(config, say=say)
    try:
        stack.start()
        uvloop.run(_run(stack, report, opts, say))
    finally:
        stack.stop()
    json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    say(f"figures written to {json_path}")
    return 0 if report.outage.get("missing") == 0 and report.outage.get("duplicates_by_webhook_id") == 0 else 1


async def _run(stack: Stack, report: Report, opts: Options, say: Say) -> None:
    receiver = Receiver()
    await receiver.start()
    say(f"receiver listening on {receiver.url('/')}")
    try:
        await measure(Bench(stack, receiver, say), report, opts)
    finally:
        await receiver.stop()


def say_to_stderr(message: str) -> None:
    """Progress on stderr (the figures go to the JSON file)."""
    print(f"[ticketloop] {message}", file=sys.stderr, flush=True)  # noqa: T201
