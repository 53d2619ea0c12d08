"""`ticketloop bench-workspace` (`make bench-workspace`): issue 19's targets for the staff
workspace, on a throw-away embedded stack with the workspace running, in three parts.

1. Pages and searches over a seeded department: N open tickets (default 10,000) posted through
   intake's API on a realistic mix (`workload.ticket_payload`), routed by an organisation that
   sends every category to one department whose few agents own most of them (the rest wait in
   its queue). Signed in through the workspace's own sign-in form (its cookie), requests one at
   a time: My work, the queue, a ticket page, the workspace's search by number (its 303 to the
   ticket) and by words; intake's `GET /v1/tickets?number=` and `?q=` with the agent's token.
   p50/p95/p99 each; targets pages p95 < 200 ms, by number < 50 ms, by words < 300 ms.
2. Notification latency: C agents (default 200, across four other departments the load now
   goes to), each signed in with its own token and holding `GET /workspace/events` open, while
   the loop runs at R tickets/s (default 50 for 30 s). Every `ticket.assigned`/`reassigned` is
   also read off the topic by the bench: for each one naming a connected agent, that agent's
   stream must deliver an `assigned` notification whose id carries the event's id (compared as
   sets: what is missing is lost). The delay is the notification's arrival at the client minus
   the record's timestamp on the topic (set by the producer when routing's outbox relay
   published it: "published"); the delay from the event's own time (the envelope `time`, which
   the notification carries as `at`: when routing committed it) is reported beside it.
   Target p99 < 1 s, none lost.
3. The loop's own figures (`bench.loop_figures`: tickets/s through the whole loop, POST p99,
   POST → assigned, CPU ms per ticket of each process) for the same steady run without, then
   with, the live connections, side by side. Target: within 10 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import uvloop
from aiokafka import AIOKafkaConsumer

from ticketloop_embedded.bench import CHANNEL_KEY, loop_counts, loop_figures
from ticketloop_embedded.loadclient import closed_loop, post_request
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import PROCESSES
from ticketloop_embedded.stack import Say, Stack, StackConfig
from ticketloop_embedded.workload import CATEGORIES, latency_summary, order_number, ticket_payload
from ticketloop_shared.auth import Role, token_for
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.events import Topics

SEED_DEPARTMENT = "claims"
SEED_AGENTS = 5
LIVE_DEPARTMENTS = ("live-1", "live-2", "live-3", "live-4")
COOKIE = "ticketloop_workspace"
ASSIGNED_TYPES = ("ticket.assigned.v1", "ticket.reassigned.v1")
# Word searches over the seed: a quoted order number (one ticket), common words in each language.
WORD_QUERIES = (
    "damaged",
    "refund order",
    "arrived damaged",
    "remboursement commande",
    "Rückerstattung",
    "pedido dañado",
    "退款",
    "Router",
    "invoice twice",
)
TARGETS_MS = {"pages": 200.0, "by_number": 50.0, "by_words": 300.0, "notification_p99": 1000.0}


@dataclass
class WorkspaceReport:
    """Everything bench-workspace measured."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    seed: dict[str, Any] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: dict[str, Any] = field(default_factory=dict)
    loop_without_connections: dict[str, Any] = field(default_factory=dict)
    loop_with_connections: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, bool] = field(default_factory=dict)
    load_average: dict[str, list[float]] = field(default_factory=dict)


def organisation(categories_to: Callable[[int], str], live_agents: int, *, seed_tickets: int) -> dict[str, Any]:
    """The seed department (a few agents, each taking at most a fifth of 80 % of the seed: the
    rest waits in its queue) and the live departments (`live_agents` agents spread over them, no
    limit); categories by `categories_to`."""
    per = max(1, live_agents // len(LIVE_DEPARTMENTS))
    capacity = max(1, seed_tickets * 4 // 5 // SEED_AGENTS)
    return {
        "fallback_department": SEED_DEPARTMENT,
        "departments": [
            {"id": SEED_DEPARTMENT, "name": "Claims", "supervisor": "sup-claims", "default_capacity": capacity},
            *({"id": d, "name": f"Live {d[-1]}", "supervisor": f"sup-{d}"} for d in LIVE_DEPARTMENTS),
        ],
        "agents": [
            *(
                {"id": f"{SEED_DEPARTMENT}-{n}", "name": f"Claims agent {n}", "department": SEED_DEPARTMENT}
                for n in range(1, SEED_AGENTS + 1)
            ),
            *(
                {"id": f"{d}-agent-{n:03d}", "name": f"Agent {n} of {d}", "department": d}
                for d in LIVE_DEPARTMENTS
                for n in range(1, per + 1)
            ),
        ],
        "categories": {c: categories_to(i) for i, c in enumerate(CATEGORIES)},
    }


def live_agent_ids(count: int) -> list[tuple[str, str]]:
    """(agent id, department) of the agents the live connections sign in as."""
    per = max(1, count // len(LIVE_DEPARTMENTS))
    return [(f"{d}-agent-{n:03d}", d) for d in LIVE_DEPARTMENTS for n in range(1, per + 1)]


def mix_request(offset: int) -> Callable[[int], bytes]:
    """`POST /v1/tickets` of mix ticket `offset + i` (each run its own tickets: no repeat contacts)."""

    def make(i: int) -> bytes:
        body = json.dumps(ticket_payload(offset + i)).encode()
        return post_request("/v1/tickets", body, {"X-Api-Key": CHANNEL_KEY})

    return make


class Admin:
    """The bench's admin calls to routing."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.token = token_for(stack.platform(), sub="bench-admin", role=Role.ADMIN, name="Bench admin")

    async def put_organisation(self, body: dict[str, Any]) -> None:
        """Replace routing's organisation (over the version it has now)."""
        url = self.stack.services["routing"].url + "/v1/organisation"
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=30) as client:
            current = await client.get(url, headers=headers)
            current.raise_for_status()
            r = await client.put(url, json=body, headers={**headers, "If-Match": current.headers["ETag"]})
            if r.status_code != 200:
                raise RuntimeError(f"PUT /v1/organisation: {r.status_code} {r.text[:500]}")


async def sign_in(client: httpx.AsyncClient, workspace: str, token: str) -> str:
    """The workspace's cookie after its own sign-in form accepted `token`."""
    r = await client.post(
        f"{workspace}/workspace/login",
        data={"token": token, "next": "/workspace"},
        headers={"Origin": workspace},
    )
    cookie = r.cookies.get(COOKIE)
    if r.status_code != 303 or not cookie:
        raise RuntimeError(f"sign-in refused: {r.status_code} {r.text[:300]}")
    return cookie


async def seed(
    stack: Stack, report: WorkspaceReport, *, tickets: int, concurrency: int, say: Say
) -> list[dict[str, Any]]:
    """Post the seed tickets and wait until every service has them; their ids and numbers."""
    say(f"seed: {tickets} tickets on the mix into department {SEED_DEPARTMENT!r}, {concurrency} connections")
    started = time.monotonic()
    base = await loop_counts(stack)

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            say(f"    seeding: {await loop_counts(stack)}")

    reporter = asyncio.create_task(progress())
    try:
        result = await closed_loop(
            stack.services["intake"].port, mix_request(0), total=tickets, concurrency=concurrency, keep_bodies=True
        )
    finally:
        reporter.cancel()
    posted = [json.loads(body) for _, body in result.bodies]
    report.seed = {
        "posted": len(posted),
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "errors": result.errors,
        "post_seconds": round(time.monotonic() - started, 1),
        "accepted_per_s": round(result.rate, 1),
    }
    say(f"  posted: {report.seed}")
    counts = await seed_settled(stack, len(posted), say, base=base)
    report.seed.update(counts)
    report.seed["settled_seconds"] = round(time.monotonic() - started, 1)
    say(f"  settled: {counts}")
    return posted


async def seed_settled(
    stack: Stack, expected: int, say: Say, *, base: dict[str, int], timeout: float = 900
) -> dict[str, int]:
    """Wait until routing placed every ticket (assigned or queued), intake shows every owner and
    sla has every clock; the counts then. Not retrospective: the workspace reads nothing of it
    (its count is reported; it works off a burst this size in minutes here)."""
    deadline = time.monotonic() + timeout
    last = 0.0
    while True:
        counts = await loop_counts(stack)
        conn = await asyncpg.connect(asyncpg_dsn(stack.pg.url("ticketloop_routing")))
        try:
            counts["routing_placed"] = int(await conn.fetchval("SELECT count(*) FROM assignments") or 0)
        finally:
            await conn.close()
        done = (
            counts["routing_placed"] >= base["intake_tickets"] + expected
            and counts["intake_assigned"] >= counts["routing_assigned"]
            and counts["sla_with_clocks"] >= base["intake_tickets"] + expected
        )
        if done or time.monotonic() > deadline:
            return counts
        if time.monotonic() - last > 5:
            last = time.monotonic()
            say(f"    settling: {counts}")
        await asyncio.sleep(0.5)


async def retrospective_caught_up(stack: Stack, say: Say, *, timeout: float) -> float | None:
    """Seconds until retrospective has a fact of every ticket intake has (None: not in `timeout`);
    the queued tickets are never assigned, so `bench.wait_for_loop` would wait for ever."""
    started = time.monotonic()
    last = started
    while time.monotonic() - started < timeout:
        counts = await loop_counts(stack)
        if counts["retrospective_facts"] >= counts["intake_tickets"]:
            return round(time.monotonic() - started, 1)
        if time.monotonic() - last > 10:
            last = time.monotonic()
            say(f"    retrospective: {counts['retrospective_facts']} of {counts['intake_tickets']}")
        await asyncio.sleep(1)
    return None


async def timed(
    name: str,
    count: int,
    call: Callable[[int], Awaitable[httpx.Response]],
    expect: int,
    report: WorkspaceReport,
    say: Say,
) -> None:
    """`count` calls one after another (after a few unmeasured ones), their latencies summarised."""
    for i in range(5):
        await call(-1 - i)
    latencies: list[float] = []
    wrong: dict[str, int] = {}
    for i in range(count):
        started = time.perf_counter()
        r = await call(i)
        latencies.append(time.perf_counter() - started)
        if r.status_code != expect:
            wrong[str(r.status_code)] = wrong.get(str(r.status_code), 0) + 1
    figures: dict[str, Any] = {**latency_summary(latencies), "unexpected_statuses": wrong}
    report.requests[name] = figures
    say(
        f"  {name:<34} p50 {figures['p50_ms']:7.1f}  p95 {figures['p95_ms']:7.1f}  p99 {figures['p99_ms']:7.1f} ms"
        + (f"  UNEXPECTED {wrong}" if wrong else "")
    )


async def measure_pages(
    stack: Stack, report: WorkspaceReport, posted: list[dict[str, Any]], *, requests: int, say: Say
) -> None:
    """Part 1: pages and searches, one request at a time, as the busiest agent of the seed."""
    platform = stack.platform()
    workspace = stack.services["workspace"].url
    intake = stack.services["intake"].url
    owner = f"{SEED_DEPARTMENT}-1"
    token = token_for(platform, sub=owner, role=Role.AGENT, name="Claims agent 1", department=SEED_DEPARTMENT)
    rng = random.Random(19)
    say(f"part 1/3: pages and searches as {owner}, {requests} requests each, one at a time")
    async with httpx.AsyncClient(timeout=30) as client:
        cookie = await sign_in(client, workspace, token)
        mine = await client.get(
            f"{intake}/v1/tickets",
            params={"assignee_id": "me", "limit": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        report.seed["busiest_agent_open_tickets"] = mine.json().get("total")
        say(f"  {owner} owns {report.seed['busiest_agent_open_tickets']} open tickets")
    async with (
        httpx.AsyncClient(timeout=30, cookies={COOKIE: cookie}) as page,
        httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        ids = [t["id"] for t in posted]
        numbers = [t["number"] for t in posted]

        async def my_work(_: int) -> httpx.Response:
            return await page.get(f"{workspace}/workspace")

        async def queue(_: int) -> httpx.Response:
            return await page.get(f"{workspace}/workspace/queue")

        async def ticket(_: int) -> httpx.Response:
            return await page.get(f"{workspace}/workspace/tickets/{rng.choice(ids)}")

        async def ws_number(_: int) -> httpx.Response:
            return await page.get(f"{workspace}/workspace/search", params={"q": rng.choice(numbers)})

        async def api_number(_: int) -> httpx.Response:
            return await api.get(f"{intake}/v1/tickets", params={"number": rng.choice(numbers), "limit": 25})

        async def api_by_number(_: int) -> httpx.Response:
            return await api.get(f"{intake}/v1/tickets/by-number/{rng.choice(numbers)}")

        def words(i: int) -> str:
            # every other search quotes an order number (one ticket), the rest common words
            return order_number(rng.randrange(len(posted))) if i % 2 else WORD_QUERIES[i % len(WORD_QUERIES)]

        async def api_words(i: int) -> httpx.Response:
            return await api.get(f"{intake}/v1/tickets", params={"q": words(i), "limit": 25})

        async def ws_words(i: int) -> httpx.Response:
            return await page.get(f"{workspace}/workspace/search", params={"q": words(i)})

        routing = stack.services["routing"].url

        async def api_my_work(_: int) -> httpx.Response:
            params: dict[str, str | int] = {"assignee_id": owner, "sort": "priority", "limit": 25, "offset": 0}
            return await api.get(f"{intake}/v1/tickets", params=params)

        async def api_queue(_: int) -> httpx.Response:
            return await api.get(f"{routing}/v1/queues", params={"department_id": SEED_DEPARTMENT, "limit": 100})

        async def api_ticket(_: int) -> httpx.Response:
            return await api.get(f"{intake}/v1/tickets/{rng.choice(ids)}")

        await timed("page: My work", requests, my_work, 200, report, say)
        await timed("page: queue", requests, queue, 200, report, say)
        await timed("page: ticket", requests, ticket, 200, report, say)
        await timed("by number: workspace search (303)", requests, ws_number, 303, report, say)
        await timed("by number: intake ?number=", requests, api_number, 200, report, say)
        await timed("by number: intake /by-number", requests, api_by_number, 200, report, say)
        await timed("by words: intake ?q=", requests, api_words, 200, report, say)
        await timed("by words: workspace search", requests, ws_words, 200, report, say)
        # what the pages wait for: the one call behind each (the page's own share is the difference)
        await timed("behind My work: intake list", requests, api_my_work, 200, report, say)
        await timed("behind queue: routing /v1/queues", requests, api_queue, 200, report, say)
        await timed("behind ticket: intake ticket", requests, api_ticket, 200, report, say)


@dataclass
class Received:
    """One notification as a live connection got it."""

    agent: str
    id: str
    kind: str
    at: str
    arrived: float


class LiveClients:
    """`GET /workspace/events` held open by each agent (its own token, its own cookie)."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace
        self.received: list[Received] = []
        self.connected: set[str] = set()
        self.ended: dict[str, str] = {}
        self.tasks: list[asyncio.Task[None]] = []
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=0)
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=None), limits=limits)

    async def connect(self, stack: Stack, agents: list[tuple[str, str]], say: Say) -> None:
        """Sign every agent in and open its stream; returns once every stream answered."""
        platform = stack.platform()
        cookies = {}
        for agent, department in agents:
            token = token_for(platform, sub=agent, role=Role.AGENT, name=agent, department=department)
            cookies[agent] = await sign_in(self.client, self.workspace, token)
        self.client.cookies.clear()
        for agent, cookie in cookies.items():
            self.tasks.append(asyncio.create_task(self._listen(agent, cookie)))
        deadline = time.monotonic() + 60
        while len(self.connected) + len(self.ended) < len(agents) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        say(f"  {len(self.connected)} live connections open ({len(self.ended)} refused or ended)")

    async def _listen(self, agent: str, cookie: str) -> None:
        headers = {"Cookie": f"{COOKIE}={cookie}", "Accept": "text/event-stream"}
        fields: dict[str, str] = {}
        try:
            async with self.client.stream("GET", f"{self.workspace}/workspace/events", headers=headers) as r:
                if r.status_code != 200:
                    self.ended[agent] = f"status {r.status_code}"
                    return
                self.connected.add(agent)
                async for line in r.aiter_lines():
                    if line == "":
                        if fields.get("event") and fields.get("data"):
                            arrived = time.time()
                            data = json.loads(fields["data"])
                            self.received.append(
                                Received(agent, fields.get("id", ""), fields["event"], data["at"], arrived)
                            )
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
            self.ended[agent] = "stream ended"
        except httpx.HTTPError as exc:
            self.ended[agent] = repr(exc)
        finally:
            self.connected.discard(agent)

    async def close(self) -> None:
        """Close every stream."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.aclose()


class AssignedOnTopic:
    """Every `ticket.assigned`/`reassigned` published from now on: event id, agent, the record's
    timestamp (publication) and the envelope's time."""

    def __init__(self, stack: Stack) -> None:
        platform = stack.platform()
        self.partitions = platform.topic_partitions
        self.consumer = AIOKafkaConsumer(
            Topics(platform.topic_prefix).for_family("ticket"),
            bootstrap_servers=platform.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=10,
        )
        self.events: dict[str, tuple[str, float, float]] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join at the end of the log, every partition's position fixed, then read on."""
        await self.consumer.start()
        await self.consumer.getmany(timeout_ms=500)
        deadline = time.monotonic() + 10
        while len(self.consumer.assignment()) < self.partitions and time.monotonic() < deadline:
            await self.consumer.getmany(timeout_ms=100)
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value) if r.value else {}
                    if event.get("type") in ASSIGNED_TYPES:
                        published = r.timestamp / 1000
                        stamped = datetime.fromisoformat(event["time"]).timestamp()
                        self.events[event["id"]] = (event["data"]["agent_id"], published, stamped)

    async def stop(self) -> None:
        """Stop reading."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()


def notification_figures(topic: AssignedOnTopic, live: LiveClients, agents: set[str]) -> dict[str, Any]:
    """Lost (expected on the topic for a connected agent, never received) and the delays."""
    got: dict[tuple[str, str], Received] = {}
    for n in live.received:
        if n.kind == "assigned":
            got.setdefault((n.agent, n.id.split(".", 1)[0]), n)
    expected = {(agent, event_id) for event_id, (agent, _, _) in topic.events.items() if agent in agents}
    lost = expected - set(got)
    from_published = [got[k].arrived - topic.events[k[1]][1] for k in expected if k in got]
    from_event_time = [got[k].arrived - topic.events[k[1]][2] for k in expected if k in got]
    return {
        "assigned_on_topic": len(topic.events),
        "expected_for_connected_agents": len(expected),
        "received": len(expected & set(got)),
        "lost": len(lost),
        "lost_examples": sorted(f"{a}:{e}" for a, e in lost)[:5],
        "notifications_received_all_kinds": len(live.received),
        "connections_ended_early": dict(list(live.ended.items())[:5]),
        "delay_from_publication": latency_summary(from_published),
        "delay_from_event_time": latency_summary(from_event_time),
    }


def _change(without: float | None, with_: float | None, *, higher_is_better: bool) -> float | None:
    """Relative change, positive = worse, in %."""
    if not without or with_ is None:
        return None
    delta = (with_ - without) / without * 100
    return round(-delta if higher_is_better else delta, 1)


def compare(without: dict[str, Any], with_: dict[str, Any]) -> dict[str, Any]:
    """The loop's figures side by side: % worse with the live connections (negative: better)."""
    # every process but the workspace (which the connections are for) and the bench's own client
    cpu_services = [n for n in without.get("cpu_ms_per_ticket", {}) if n not in ("bench client", "workspace")]

    def loop_cpu(f: dict[str, Any]) -> float:
        return float(sum(f["cpu_ms_per_ticket"].get(n, 0.0) for n in cpu_services))

    return {
        "loop_tickets_per_s": [without.get("loop_tickets_per_s"), with_.get("loop_tickets_per_s")],
        "loop_tickets_per_s_worse_pct": _change(
            without.get("loop_tickets_per_s"), with_.get("loop_tickets_per_s"), higher_is_better=True
        ),
        "post_p99_ms": [without["post"]["p99_ms"], with_["post"]["p99_ms"]],
        "post_p99_worse_pct": _change(without["post"]["p99_ms"], with_["post"]["p99_ms"], higher_is_better=False),
        "post_to_assigned_p99_ms": [without["post_to_assigned_p99_ms"], with_["post_to_assigned_p99_ms"]],
        "post_to_assigned_p99_worse_pct": _change(
            without["post_to_assigned_p99_ms"], with_["post_to_assigned_p99_ms"], higher_is_better=False
        ),
        "cpu_ms_per_ticket_loop_services": [round(loop_cpu(without), 2), round(loop_cpu(with_), 2)],
        "cpu_loop_services_worse_pct": _change(loop_cpu(without), loop_cpu(with_), higher_is_better=False),
        "cpu_ms_per_ticket_workspace": [
            without["cpu_ms_per_ticket"].get("workspace"),
            with_["cpu_ms_per_ticket"].get("workspace"),
        ],
    }


async def measure(
    stack: Stack,
    report: WorkspaceReport,
    *,
    tickets: int,
    concurrency: int,
    requests: int,
    connections: int,
    rate: float,
    seconds: float,
    say: Say,
) -> None:
    """The loop without and with live connections (parts 3 and 2), then the seed and part 1."""
    admin = Admin(stack)
    # The loop first, on an empty system, so that no service is still working off the seed's
    # burst (retrospective takes minutes over 10,000 tickets here) while the two runs are compared.
    await admin.put_organisation(
        organisation(lambda i: LIVE_DEPARTMENTS[i % len(LIVE_DEPARTMENTS)], connections, seed_tickets=tickets)
    )
    say("part 3/3 (first half): the loop without live connections, load spread over the live departments")
    report.load_average["before_loop_without"] = list(os.getloadavg())
    say(f"  steady {rate:.0f} tickets/s for {seconds:.0f} s, no live connection")
    report.loop_without_connections = await loop_figures(
        stack, rate=rate, seconds=seconds, say=say, make=mix_request(1_000_000)
    )
    say(f"  {summary(report.loop_without_connections)}")

    say(f"part 2/3: {connections} agents signed in with live connections; the same steady run")
    agents = live_agent_ids(connections)
    live = LiveClients(stack.services["workspace"].url)
    topic = AssignedOnTopic(stack)
    try:
        await live.connect(stack, agents, say)
        connected = set(live.connected)
        await topic.start()
        report.load_average["before_loop_with"] = list(os.getloadavg())
        report.loop_with_connections = await loop_figures(
            stack, rate=rate, seconds=seconds, say=say, make=mix_request(2_000_000)
        )
        say(f"  {summary(report.loop_with_connections)}")
        # the last notifications' way out: wait until nothing is missing, at most 10 s
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if notification_figures(topic, live, connected)["lost"] == 0:
                break
            await asyncio.sleep(0.2)
        report.notifications = {"connected": len(connected), **notification_figures(topic, live, connected)}
    finally:
        await topic.stop()
        await live.close()
    n = report.notifications
    say(
        f"  notifications: {n['received']}/{n['expected_for_connected_agents']} assigned received, lost {n['lost']}; "
        f"from publication {n['delay_from_publication']}; from event time {n['delay_from_event_time']}"
    )

    await admin.put_organisation(organisation(lambda _: SEED_DEPARTMENT, connections, seed_tickets=tickets))
    report.load_average["before_seed"] = list(os.getloadavg())
    posted = await seed(stack, report, tickets=tickets, concurrency=concurrency, say=say)
    # The pages on a system at rest: the rest of the loop (retrospective) works off the seed first.
    say("  waiting for retrospective to work off the seed before timing pages (at most 10 min)")
    report.seed["retrospective_caught_up_after_s"] = await retrospective_caught_up(stack, say, timeout=600)
    report.load_average["before_pages"] = list(os.getloadavg())
    await measure_pages(stack, report, posted, requests=requests, say=say)
    report.comparison = compare(report.loop_without_connections, report.loop_with_connections)
    say("  the loop without | with live connections:")
    for key, value in report.comparison.items():
        say(f"    {key:<34} {value}")
    report.verdicts = verdicts(report)
    say(f"verdicts: {report.verdicts}")


def summary(figures: dict[str, Any]) -> str:
    """One line of a steady run."""
    return (
        f"{figures['tickets']} tickets, loop {figures['loop_tickets_per_s']} tickets/s, POST p99 "
        f"{figures['post']['p99_ms']} ms, POST->assigned p50 {figures['post_to_assigned_p50_ms']} p99 "
        f"{figures['post_to_assigned_p99_ms']} ms, CPU ms/ticket {figures['cpu_ms_per_ticket']}"
    )


def verdicts(report: WorkspaceReport) -> dict[str, bool]:
    """Each target: met or not."""
    r = report.requests
    out = {
        "pages_p95_under_200ms": all(r[k]["p95_ms"] < TARGETS_MS["pages"] for k in r if k.startswith("page:")),
        "by_number_p95_under_50ms": all(
            r[k]["p95_ms"] < TARGETS_MS["by_number"] for k in r if k.startswith("by number")
        ),
        "by_words_p95_under_300ms": all(r[k]["p95_ms"] < TARGETS_MS["by_words"] for k in r if k.startswith("by words")),
    }
    n = report.notifications
    if n:
        out["notification_p99_under_1s"] = n["delay_from_publication"]["p99_ms"] < TARGETS_MS["notification_p99"]
        out["no_notification_lost"] = n["lost"] == 0 and n["expected_for_connected_agents"] > 0
    c = report.comparison
    if c:
        worse = [
            c.get("loop_tickets_per_s_worse_pct"),
            c.get("post_p99_worse_pct"),
            c.get("cpu_loop_services_worse_pct"),
        ]
        out["loop_within_10pct"] = all(w is not None and w <= 10 for w in worse)
    return out


def bench_workspace(
    *,
    tickets: int,
    concurrency: int,
    requests: int,
    connections: int,
    rate: float,
    seconds: float,
    json_path: Path,
    say: Say,
) -> int:
    """Run it on free ports in a temporary folder; print and write the figures; 1 if a target is missed."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-bench-workspace-"))
    config = StackConfig(
        data_dir=root,
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in PROCESSES},
        # One agent asks for hundreds of pages a minute here, past the per-token limit (1,200 a
        # minute by default) that would answer them 429: the limit is off for the bench.
        env={"TICKETLOOP_LOG_LEVEL": "WARNING", "TICKETLOOP_RATE_STAFF_PER_MINUTE": "0"},
        services=PROCESSES,
        scratch=True,
    )
    report = WorkspaceReport(
        machine={
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": list(os.getloadavg()),
        },
        settings={
            "tickets": tickets,
            "concurrency": concurrency,
            "requests": requests,
            "connections": connections,
            "rate": rate,
            "seconds": seconds,
        },
    )
    say(f"load average at start (other people share this machine): {os.getloadavg()}")
    stack = Stack(config, say=say)
    try:
        stack.start()
        uvloop.run(
            measure(
                stack,
                report,
                tickets=tickets,
                concurrency=concurrency,
                requests=requests,
                connections=connections,
                rate=rate,
                seconds=seconds,
                say=say,
            )
        )
    finally:
        report.load_average["at_end"] = list(os.getloadavg())
        stack.stop()
        json_path.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
        say(f"figures written to {json_path}")
    return 0 if report.verdicts and all(report.verdicts.values()) else 1
