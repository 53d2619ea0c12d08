"""`ticketloop chaos`: steady load on the embedded stack while every part of it fails in turn,
then an exact count, end to end, of what became of every accepted ticket.

The load is a well-behaved channel: every request carries an Idempotency-Key and is retried
with the same key until it gets an answer, as the README asks of channels. It has no webhook
subscription, so it reads each accepted ticket back (`GET /v1/channel/tickets/{id}`): that is
the acknowledgement reaching it, which meets the 10-minute clock (issue 20; without it a run
or its drain past 10 minutes would breach every open ticket's acknowledgement). A third of the
tickets are replied to and resolved by an agent. The faults: SIGKILL of each service (started
again, as `make run` does), PostgreSQL stopped for a while, and the memory-only broker SIGKILLed
and replaced by an empty one. Afterwards every service's database is read and compared with
what the channel was told: 0 lost, 0 doubled, 0 false breaches, no personal data in any log
line or topic.

With replicas (`ticketloop chaos --replicas intake=2,routing=2`) the same load is spread over
every intake process, as a load balancer would (round robin, a retry going to the next one); each
service's first process is SIGKILLed in turn while its sibling carries on, PostgreSQL's
postmaster is SIGKILLed outright rather than stopped while every replica runs, and the broker is
replaced while the second replicas are down, so they rejoin a broker their siblings already found.
The count is the same: replicas share their service's database and consumer group, so what they
did together must add up exactly as one process's would.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from ticketloop_embedded.organisations import uncapped_env
from ticketloop_embedded.stack import Say, Stack
from ticketloop_shared.auth import Role, token_for
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.events import Topics

CHANNEL_KEY = "tl-dev-channel-key"
IN_FLIGHT = 48
# Personal data the load sends; none of it may appear in a log line or on a topic.
NAME_MARK = "Zelda Quixote"
CONTACT_DOMAIN = "chaos-mail.example"


@dataclass
class Fault:
    """One failure at `at` seconds into the load."""

    at: float
    name: str
    act: Callable[[Stack], Awaitable[None]]


@dataclass
class Outcome:
    """What the channel was told, and what every service holds afterwards."""

    accepted: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    retries: int = 0
    # Answers (other than transient failures) by the base URL that gave them: each replica's share.
    answered: Counter[str] = field(default_factory=Counter)
    faults: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    drained_after: float | None = None
    # The processes the load ran on, when a service had more than one ("intake=2, routing=2").
    replicas: str = ""
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT), repr=False)

    def table(self) -> str:
        """The figures, one per line, for a person reading the terminal."""
        width = max(len(k) for k in self.counts) if self.counts else 10
        lines = [f"{'replicas':<{width}}  {self.replicas}"] if self.replicas else []
        lines += [f"{'faults':<{width}}  {', '.join(self.faults)}", f"{'client retries':<{width}}  {self.retries}"]
        lines += [f"{k:<{width}}  {v}" for k, v in self.counts.items()]
        lines.append(f"{'drained after':<{width}}  {self.drained_after:.1f}s" if self.drained_after else "not drained")
        lines.append(f"{'verdict':<{width}}  {'OK' if not self.problems else 'FAILED'}")
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def kill_service(name: str, down_for: float = 1.0) -> Callable[[Stack], Awaitable[None]]:
    """SIGKILL one service, then start it again, as the supervisor does."""

    async def act(stack: Stack) -> None:
        proc = stack.services[name]
        proc.kill()
        await asyncio.sleep(down_for)
        proc.start()

    return act


def stop_postgres(down_for: float) -> Callable[[Stack], Awaitable[None]]:
    """Stop PostgreSQL (immediate shutdown: no checkpoint, as a crash) for `down_for` seconds."""

    async def act(stack: Stack) -> None:
        await asyncio.to_thread(stack.pg._run, "pg_ctl", ["-w", "-m", "immediate", "stop"])
        await asyncio.sleep(down_for)
        await asyncio.to_thread(stack.restart_postgres)

    return act


def kill_postgres(down_for: float) -> Callable[[Stack], Awaitable[None]]:
    """SIGKILL PostgreSQL's postmaster (no shutdown at all: its backends find it gone), start it
    again `down_for` seconds later (crash recovery)."""

    async def act(stack: Stack) -> None:
        await asyncio.to_thread(stack.pg.kill)
        await asyncio.sleep(down_for)
        await asyncio.to_thread(stack.restart_postgres)

    return act


async def kill_broker(stack: Stack) -> None:
    """SIGKILL the memory-only broker and start an empty one in its place."""
    assert stack.broker.process is not None
    stack.broker.process.kill()
    stack.broker.process.wait()
    await asyncio.to_thread(stack.restart_broker)


def replace_broker_while_restarting(names: list[str]) -> Callable[[Stack], Awaitable[None]]:
    """SIGKILL `names`, replace the broker, start them again: they come back to a new broker
    that their sibling replicas have already found, with whatever offsets the group committed
    there (positions carried over from the old log among them)."""

    async def act(stack: Stack) -> None:
        for name in names:
            stack.services[name].kill()
        await kill_broker(stack)
        for name in names:
            stack.services[name].start()

    return act


def default_faults(db_outage: float, replicas: Mapping[str, int] | None = None) -> list[Fault]:
    """Each service SIGKILLed, PostgreSQL stopped, the broker replaced, a few seconds apart.

    With `replicas`, each service's first process is SIGKILLed in turn (its siblings carry on),
    PostgreSQL's postmaster is SIGKILLed rather than stopped, and the broker is replaced while
    every further replica is down, so that they rejoin after it: every process killed once."""
    names = process_names(replicas or {})
    first = [n for n in names if n in stack_services()]
    faults = [Fault(3 + 3 * i, f"kill {name}", kill_service(name)) for i, name in enumerate(first)]
    after = 3 + 3 * len(faults)
    others = [n for n in names if n not in first]
    if others:
        faults.append(Fault(after, f"postgres SIGKILLed, down {db_outage:.0f}s", kill_postgres(db_outage)))
        replaced = f"broker replaced while {', '.join(others)} restart"
        faults.append(Fault(after + db_outage + 5, replaced, replace_broker_while_restarting(others)))
    else:
        faults.append(Fault(after, f"postgres down {db_outage:.0f}s", stop_postgres(db_outage)))
        faults.append(Fault(after + db_outage + 5, "broker replaced", kill_broker))
    return faults


def process_names(replicas: Mapping[str, int]) -> list[str]:
    """Every process of the stack by the name `Stack` gives it (`routing`, `routing-2`, ...):
    each service's first, then each one's second, and so on."""
    rounds = max([1, *replicas.values()])
    return [
        name if n == 1 else f"{name}-{n}"
        for n in range(1, rounds + 1)
        for name in stack_services()
        if n <= replicas.get(name, 1)
    ]


def stack_services() -> list[str]:
    """The services in the order they are killed."""
    return ["routing", "sla", "intake", "feedback", "retrospective"]


async def _retrying(
    client: httpx.AsyncClient, outcome: Outcome, method: str, bases: Iterator[str], path: str, **kwargs: Any
) -> httpx.Response:
    """Send until the service answers with anything but a transient failure (backing off, as
    a channel should; at most `IN_FLIGHT` requests at once, so an outage queues cheaply). Each
    attempt goes to the next of the service's replicas (`bases`), as through a load balancer."""
    delay = 0.2
    while True:
        try:
            base = next(bases)
            async with outcome.gate:
                r = await client.request(method, f"{base}{path}", **kwargs)
            if r.status_code < 500 and r.status_code != 429:
                outcome.answered[base] += 1
                return r
        except httpx.HTTPError:
            pass
        outcome.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _load(
    stack: Stack,
    outcome: Outcome,
    *,
    rate: float,
    seconds: float,
    agent: str,
    resolve_every: int,
    say: Say,
    total: int | None = None,
) -> None:
    # Every intake process that serves the API, in turn (a `-worker` only consumes).
    intake = itertools.cycle(
        [p.url for name, p in stack.services.items() if p.sdef.name == "intake" and not name.endswith("-worker")]
    )
    counter = itertools.count()
    tasks: list[asyncio.Task[None]] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(n: int) -> None:
            body = {
                "channel": "web",
                "customer": {"id": f"chaos-{n % 97}", "name": f"{NAME_MARK} {n}", "contact": f"zq{n}@{CONTACT_DOMAIN}"},
                "category": ["billing", "product_quality", "logistics_delay", "account"][n % 4],
                "subject": f"chaos ticket {n:06d}",  # a distinct problem each (not a repeat contact)
                "description": f"{NAME_MARK} reports problem {n}",
            }
            headers = {"X-Api-Key": CHANNEL_KEY, "Idempotency-Key": f"chaos-{n}"}
            r = await _retrying(client, outcome, "POST", intake, "/v1/tickets", json=body, headers=headers)
            if r.status_code != 201:
                outcome.problems.append(f"ticket {n} refused: {r.status_code} {r.text[:200]}")
                return
            ticket_id = r.json()["id"]
            outcome.accepted.add(ticket_id)
            read = await _retrying(
                client,
                outcome,
                "GET",
                intake,
                f"/v1/channel/tickets/{ticket_id}",
                headers={"X-Api-Key": CHANNEL_KEY},
            )
            if read.status_code != 200:
                outcome.problems.append(f"read-back of {n} refused: {read.status_code} {read.text[:200]}")
            if not resolve_every or n % resolve_every:
                return
            staff = {"Authorization": f"Bearer {agent}"}
            for step, payload in (("replies", {"body": "On it."}), ("resolve", {"resolution": "Fixed."})):
                headers = {**staff, "Idempotency-Key": f"chaos-{n}-{step}"}
                r = await _retrying(
                    client, outcome, "POST", intake, f"/v1/tickets/{ticket_id}/{step}", json=payload, headers=headers
                )
                if r.status_code not in (200, 201):
                    outcome.problems.append(f"{step} of {n} refused: {r.status_code} {r.text[:200]}")
                    return
            outcome.resolved.add(ticket_id)

        loop = asyncio.get_running_loop()
        start = loop.time()
        last_report = start
        # For `seconds`, or, given `total`, until that many tickets were sent (at most `rate` a
        # second either way: how many a loaded machine takes in a given time is a benchmark's
        # question, not a test's).
        while (loop.time() - start < seconds) if total is None else (len(tasks) < total):
            n = next(counter)
            tasks.append(asyncio.create_task(one(n)))
            await asyncio.sleep(max(0.0, start + (n + 1) / rate - loop.time()))
            if loop.time() - last_report >= 5:
                last_report = loop.time()
                say(f"  load: {n + 1} sent, {len(outcome.accepted)} accepted, {outcome.retries} retries")
        await asyncio.gather(*tasks)


async def _scalar(stack: Stack, database: str, query: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(stack.pg.url(database)))
    try:
        return int(await conn.fetchval(query) or 0)
    finally:
        await conn.close()


def _queries(outcome: Outcome) -> dict[str, tuple[str, str]]:
    """Each count of the verdict: the database it is read from and its query."""
    ids = ",".join(f"'{i}'" for i in outcome.accepted) or "NULL"
    resolved = ",".join(f"'{i}'" for i in outcome.resolved) or "NULL"
    q = {
        "tickets in intake": ("ticketloop_intake", "SELECT count(*) FROM tickets"),
        "accepted, missing in intake": (
            "ticketloop_intake",
            f"SELECT {len(outcome.accepted)} - count(*) FROM tickets WHERE id IN ({ids})",
        ),
        # Each ticket was read back by its channel: the acknowledgement reached it.
        "not acknowledged in intake": (
            "ticketloop_intake",
            f"SELECT count(*) FROM tickets WHERE id IN ({ids}) AND acknowledged_at IS NULL",
        ),
        "without assignee in intake": (
            "ticketloop_intake",
            f"SELECT count(*) FROM tickets WHERE id IN ({ids}) AND assignee_id IS NULL",
        ),
        "assignments shown twice": (
            "ticketloop_intake",
            "SELECT count(*) FROM (SELECT ticket_id FROM timeline WHERE kind = 'assigned' "
            "GROUP BY ticket_id HAVING count(*) > 1) d",
        ),
        "assignments in routing": ("ticketloop_routing", "SELECT count(*) FROM assignments WHERE agent_id IS NOT NULL"),
        # The five clocks every report starts (acknowledgement, first response, plan, resolution,
        # periodic update), each once.
        "tickets without their clocks": (
            "ticketloop_sla",
            f"SELECT {len(outcome.accepted)} - count(*) FROM (SELECT ticket_id FROM clocks "
            f"WHERE ticket_id IN ({ids}) AND cycle = 1 AND kind IN ('acknowledgement', 'first_response', 'plan', "
            "'resolution', 'periodic_update') GROUP BY ticket_id HAVING count(*) = 5) c",
        ),
        # Only the follow-up runs on once a ticket is resolved.
        "resolved with a running clock": (
            "ticketloop_sla",
            f"SELECT count(*) FROM clocks WHERE ticket_id IN ({resolved}) AND current "
            "AND status IN ('running', 'paused') AND kind <> 'follow_up'",
        ),
        # Every target but the 30-second live access is longer than the run.
        "breaches (all false here)": (
            "ticketloop_sla",
            "SELECT count(*) FROM clocks WHERE status = 'breached' AND kind <> 'live_access'",
        ),
        # One per resolution (new customers' onboarding surveys are scheduled too: not counted here).
        "ticket surveys": ("ticketloop_feedback", "SELECT count(*) FROM surveys WHERE kind = 'ticket'"),
        "facts in retrospective": ("ticketloop_retrospective", "SELECT count(*) FROM ticket_facts"),
        "resolved facts": (
            "ticketloop_retrospective",
            "SELECT count(*) FROM ticket_facts WHERE resolved_at IS NOT NULL",
        ),
    }
    return q


async def _count(stack: Stack, outcome: Outcome) -> dict[str, int]:
    counts = {label: await _scalar(stack, database, query) for label, (database, query) in _queries(outcome).items()}
    parked = unpublished = 0
    for name in stack_services():
        parked += await _scalar(stack, f"ticketloop_{name}", "SELECT count(*) FROM dead_letters")
        unpublished += await _scalar(
            stack, f"ticketloop_{name}", "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        )
    counts["parked events"] = parked
    counts["outbox rows unpublished"] = unpublished
    return counts


def _expected(outcome: Outcome) -> dict[str, int]:
    n, r = len(outcome.accepted), len(outcome.resolved)
    return {
        "tickets in intake": n,
        "accepted, missing in intake": 0,
        "not acknowledged in intake": 0,
        "without assignee in intake": 0,
        "assignments shown twice": 0,
        "assignments in routing": n,
        "tickets without their clocks": 0,
        "resolved with a running clock": 0,
        "breaches (all false here)": 0,
        "ticket surveys": r,
        "facts in retrospective": n,
        "resolved facts": r,
        "parked events": 0,
        "outbox rows unpublished": 0,
    }


async def _personal_data_leaks(stack: Stack, log_dir: Path) -> list[str]:
    leaks = []
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        if NAME_MARK in text or CONTACT_DOMAIN in text:
            leaks.append(f"personal data in {path.name}")
    platform = stack.platform()
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka_bootstrap, group_id=None, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        topics = Topics(platform.topic_prefix).all()
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or set())] or [
            TopicPartition(t, p) for t in topics for p in range(platform.topic_partitions)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=300)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for record in records:
                    raw = (record.value or b"").decode(errors="replace")
                    if NAME_MARK in raw or CONTACT_DOMAIN in raw:
                        leaks.append(f"personal data on {record.topic}")
    finally:
        await consumer.stop()
    return sorted(set(leaks))


async def run_chaos(
    stack: Stack,
    *,
    rate: float,
    seconds: float,
    faults: list[Fault],
    drain_timeout: float,
    say: Say,
    resolve_every: int = 3,
    total: int | None = None,
) -> Outcome:
    """Drive the load, inject the faults on schedule, wait for the system to settle, count."""
    outcome = Outcome()
    outcome.replicas = ", ".join(f"{k}={v}" for k, v in sorted(stack.config.replicas.items()) if v > 1)
    # An admin may resolve any ticket, whoever owns it.
    agent = token_for(stack.platform(), sub="admin-chaos", role=Role.ADMIN)

    async def inject() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for fault in sorted(faults, key=lambda f: f.at):
            await asyncio.sleep(max(0.0, start + fault.at - loop.time()))
            say(f"  fault at {loop.time() - start:.0f}s: {fault.name}")
            await fault.act(stack)
            outcome.faults.append(fault.name)

    length = f"{total} tickets" if total is not None else f"{seconds:.0f}s"
    say(f"chaos: {rate:.0f} tickets/s for {length} with {len(faults)} faults")
    await asyncio.gather(
        _load(
            stack, outcome, rate=rate, seconds=seconds, agent=agent, resolve_every=resolve_every, say=say, total=total
        ),
        inject(),
    )
    say(
        f"load done: {len(outcome.accepted)} accepted, {len(outcome.resolved)} resolved; waiting for the loop to settle"
    )
    started = time.monotonic()
    expected = _expected(outcome)
    while True:
        try:
            outcome.counts = await _count(stack, outcome)
        except (OSError, asyncpg.PostgresError) as exc:
            say(f"  counting failed ({exc!r}); retrying")
        if outcome.counts == expected:
            outcome.drained_after = time.monotonic() - started
            break
        if time.monotonic() - started > drain_timeout:
            break
        await asyncio.sleep(1)
    for label, want in expected.items():
        got = outcome.counts.get(label)
        if got != want:
            outcome.problems.append(f"{label}: {got}, expected {want}")
    outcome.problems += await _personal_data_leaks(stack, stack.config.data_dir / "logs")
    return outcome


def chaos(*, rate: float, db_outage: float, say: Say, replicas: Mapping[str, int] | None = None) -> int:
    """The default fault plan on a throw-away embedded stack (free ports, temporary folder), with
    `replicas` processes of the services named there; prints the table and exits 0 only if
    nothing was lost, doubled or leaked."""
    from ticketloop_embedded.ports import free_port
    from ticketloop_embedded.services import SERVICES
    from ticketloop_embedded.stack import StackConfig

    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix="ticketloop-chaos-")),
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"TICKETLOOP_BROKER_CHECK_SECONDS": "1", **uncapped_env()},
        replicas=dict(replicas or {}),
    )
    stack = Stack(config, say=say)
    faults = default_faults(db_outage, replicas)
    seconds = max(f.at for f in faults) + 10
    try:
        stack.start()
        outcome = asyncio.run(run_chaos(stack, rate=rate, seconds=seconds, faults=faults, drain_timeout=300, say=say))
    finally:
        stack.stop()
    for line in outcome.table().splitlines():
        say(line)
    say(f"logs: {config.data_dir / 'logs'}")
    return 0 if not outcome.problems else 1
