"""Builders and helpers the tests share: real services on real ports, real Kafka reads."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from ticketloop_embedded.ports import free_port
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.settings import PlatformSettings

DEV_CHANNEL_KEY = "tl-dev-channel-key"
# The signing secret every test service runs with (the `platform` fixture and the e2e stacks).
TEST_SECRET = "ticketloop-test-secret-0123456789abcdef"


def agent_headers(
    sub: str = "agent-test",
    role: Role = Role.AGENT,
    secret: str = TEST_SECRET,
    ttl_seconds: int = 3600,
    department: str = "after_sales",
) -> dict[str, str]:
    """Authorization header of a staff member (an agent or supervisor of `department`)."""
    token = issue_token(secret, sub=sub, role=role, name=sub, department=department, ttl_seconds=ttl_seconds)
    return {"Authorization": f"Bearer {token}"}


def admin_headers() -> dict[str, str]:
    """Authorization header of an administrator."""
    return agent_headers("admin-test", Role.ADMIN)


def channel_headers(key: str = DEV_CHANNEL_KEY, **extra: str) -> dict[str, str]:
    """Headers of the development channel client."""
    return {"X-Api-Key": key, **extra}


def create_ticket_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/tickets` body."""
    body: dict[str, Any] = {
        "channel": "web",
        "customer": {"id": f"cust-{uuid.uuid4().hex[:8]}", "name": "Jane Doe", "contact": "jane@example.com"},
        "category": "billing",
        "need": "refund",
        "urgency": "normal",
        "subject": "Charged twice",
        "description": "My card was charged twice for order 1234.",
    }
    body.update(overrides)
    return body


@dataclass
class RunningService:
    """A service app served by uvicorn inside the test's event loop, on a real port."""

    app: FastAPI
    url: str
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime[Any]:
        """The service's live resources (engine, outbox, consumer)."""
        runtime: Runtime[Any] = self.app.state.runtime
        return runtime


def pseudonym_in(intake: RunningService, reference: str) -> str:
    """The pseudonymous customer id intake files and announces for a channel's `reference`."""
    from ticketloop_intake.customers.domain import pseudonym

    return pseudonym(intake.app.state.settings.customer_pseudonym_key, reference)


@asynccontextmanager
async def serve(app: FastAPI, *, wait_consumer: bool = True, port: int | None = None) -> AsyncIterator[RunningService]:
    """Serve `app` on 127.0.0.1 at `port` (default: a free one) until the block ends."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            proxy_headers=False,  # as the services are started: the app's `ClientAddress` decides
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            running = RunningService(app=app, url=url, client=client)
            if wait_consumer:
                await wait_ready(client)
            yield running
    finally:
        server.should_exit = True
        await task


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30) -> None:
    """Until `/health/ready` is 200 (the consumer has joined its group)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        r = await client.get("/health/ready")
        if r.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"service not ready: {r.text}")


async def eventually(check: Callable[[], Any], *, timeout: float = 20, interval: float = 0.05) -> Any:
    """Poll an async or sync `check` until it returns a truthy value; return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met in {timeout}s (last value: {last!r})")


async def read_topic(settings: PlatformSettings, topic: str, *, count: int, timeout: float = 20) -> list[Any]:
    """Read `count` records from the start of `topic` (no group), as ConsumerRecords."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=25,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(records) < count and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def read_events(
    settings: PlatformSettings, topic: str, *, count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    """Like `read_topic`, decoded as JSON envelopes."""
    return [json.loads(r.value) for r in await read_topic(settings, topic, count=count, timeout=timeout)]


async def publish(settings: PlatformSettings, *events: Any) -> None:
    """Put events on their family topic as a producer service would (keyed by subject)."""
    from aiokafka import AIOKafkaProducer

    from ticketloop_shared.events import Topics

    topics = Topics(settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topics.for_type(event.type), value=event.to_json(), key=event.subject.encode())
    finally:
        await producer.stop()


async def assign_in_intake(
    intake: RunningService,
    platform: PlatformSettings,
    ticket: dict[str, Any],
    *,
    agent: str = "agent-test",
    department: str = "after_sales",
) -> None:
    """Give a ticket an owner the way routing does (`ticket.assigned` on the topic) and wait until
    intake shows it: an agent may act only on tickets routed to its department and owned by it."""
    from tests.builders import Story

    story = Story(
        created_at=datetime.fromisoformat(ticket["created_at"]),
        ticket_id=uuid.UUID(ticket["id"]),
        number=ticket["number"],
        customer_id=ticket["customer"]["id"],
    )
    await publish(platform, story.assigned(datetime.now(UTC), agent=agent, department=department))

    async def shown() -> bool:
        r = await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=admin_headers())
        return bool((r.json().get("assignee") or {}).get("agent_id") == agent)

    await eventually(shown)


async def sla_cycles_when(
    sla: RunningService, ticket_id: Any, check: Callable[[dict[str, dict[str, Any]]], bool]
) -> dict[str, dict[str, Any]]:
    """The ticket's current SLA cycles by metric, as `GET /v1/tickets/{id}/sla` shows them, once
    `check` holds (sla's consumer and timer work asynchronously)."""

    async def probe() -> dict[str, dict[str, Any]] | None:
        r = await sla.client.get(f"/v1/tickets/{ticket_id}/sla", headers=admin_headers())
        if r.status_code != 200:
            return None
        got = {c["clock"]: c for c in r.json()["clocks"] if c["current"]}
        return got if check(got) else None

    result: dict[str, dict[str, Any]] = await eventually(probe)
    return result


async def publish_and_apply(
    service: RunningService, settings: PlatformSettings, events: Sequence[Any], *, wait_for: Sequence[Any] | None = None
) -> None:
    """Publish `events` and wait until the service's consumer has applied every one of them (its
    id is in the inbox). Waiting on the consumer's count instead would be fooled by the events the
    service consumes of its own (retrospective reads the segment changes it announces). A
    redelivered copy published before a later event of the same ticket is applied (or skipped)
    before it: one partition, in order. `wait_for`: only these (events the service ignores leave no
    inbox row)."""
    from sqlalchemy import text

    await publish(settings, *events)
    ids = list({e.id for e in (events if wait_for is None else wait_for)})

    # The service's own consumer: another one of the service (intake's webhook fan-out) keeps
    # its inbox rows in the same table under its own group.
    consumer = service.runtime.consumer
    assert consumer is not None, "the service runs no consumer"

    async def applied() -> bool:
        async with service.runtime.engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(DISTINCT event_id) FROM inbox WHERE consumer = :consumer AND event_id = ANY(:ids)"),
                {"ids": ids, "consumer": consumer.group_id},
            )
        return bool(found == len(ids))

    await eventually(applied)


async def feed_retrospective(service: RunningService, settings: PlatformSettings, events: Sequence[Any]) -> None:
    """Publish `events` to retrospective, wait until each one has been applied and every customer
    it learnt of has been classified (the segment it announces comes back through its topic and
    labels the customer's tickets)."""
    from sqlalchemy import text

    await publish_and_apply(service, settings, events)

    consumer = service.runtime.consumer
    assert consumer is not None

    async def settled() -> bool:
        # Every fact labelled, and every segment retrospective announced (a customer may be
        # classified again as later facts arrive) published and read back by its own consumer:
        # only then is nothing left that could still relabel a ticket.
        async with service.runtime.engine.connect() as conn:
            unlabelled = await conn.scalar(
                text("SELECT count(*) FROM ticket_facts WHERE created_at IS NOT NULL AND segment IS NULL")
            )
            unread = await conn.scalar(
                text(
                    "SELECT count(*) FROM outbox o WHERE o.event_type LIKE 'customer.segment_changed%' "
                    "AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.event_id = o.event_id AND i.consumer = :consumer)"
                ),
                {"consumer": consumer.group_id},
            )
        return bool(unlabelled == 0 and unread == 0)

    await eventually(settled)


@contextmanager
def running_stack(prefix: str, *, workspace: bool = False, **env: str) -> Iterator[Any]:
    """The five services as separate processes (the supervisor code of `make run`) on a fresh
    embedded PostgreSQL and broker, on free ports, with short group timeouts and the test secret;
    `workspace` adds the staff workspace in front of them; `env` adds settings. Stopped at the end."""
    import tempfile
    from pathlib import Path

    from ticketloop_embedded.services import PROCESSES, SERVICES

    processes = PROCESSES if workspace else SERVICES
    from ticketloop_embedded.stack import Stack, StackConfig

    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix=prefix)),
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in processes},
        services=processes,
        env={
            "TICKETLOOP_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "TICKETLOOP_KAFKA_HEARTBEAT_MS": "500",
            # See the `platform` fixture: an idle consumer costs a quarter of what it does at 25 ms.
            "TICKETLOOP_KAFKA_FETCH_MAX_WAIT_MS": "200",
            "TICKETLOOP_AUTH_SECRET": TEST_SECRET,
            **env,
        },
        scratch=True,
    )
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(config.data_dir, ignore_errors=True)


# --- searching everything a stack holds for a customer's words ---------------------------------

# Every column a text can end up in: character types, binary, JSON and arrays (of any of them).
SEARCHED_TYPES = ("text", "character varying", "character", "bytea", "json", "jsonb", "ARRAY", "USER-DEFINED")


async def find_in_databases(server_url: str, needles: Sequence[str]) -> list[str]:
    """Where any of `needles` is stored, as `database.table.column` (`server_url`: the cluster,
    `postgresql://user@host:port`): every column of a searched type of every table of every
    database but the templates, enumerated from `information_schema`. Binary columns are
    searched for the needle's UTF-8 bytes, the rest as text (case-insensitive)."""
    import asyncpg

    found: list[str] = []
    admin = await asyncpg.connect(f"{server_url}/postgres")
    try:
        databases = [r["datname"] for r in await admin.fetch("SELECT datname FROM pg_database WHERE NOT datistemplate")]
    finally:
        await admin.close()
    for database in databases:
        conn = await asyncpg.connect(f"{server_url}/{database}")
        try:
            columns = await conn.fetch(
                "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                "JOIN information_schema.tables t USING (table_schema, table_name) "
                "WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
                "AND c.data_type = ANY($1::text[])",
                list(SEARCHED_TYPES),
            )
            for col in columns:
                name = f'"{col["table_schema"]}"."{col["table_name"]}"'
                column = f'"{col["column_name"]}"'
                for needle in needles:
                    if col["data_type"] == "bytea":
                        query = f"SELECT count(*) FROM {name} WHERE position(convert_to($1, 'UTF8') IN {column}) > 0"
                        arg = needle
                    else:
                        query = f"SELECT count(*) FROM {name} WHERE {column}::text ILIKE $1"
                        arg = f"%{needle}%"
                    if await conn.fetchval(query, arg):
                        found.append(f"{database}.{col['table_name']}.{col['column_name']}: {needle}")
        finally:
            await conn.close()
    return found


async def find_in_topics(bootstrap: str, topics: Sequence[str], needles: Sequence[str]) -> list[str]:
    """Where any of `needles` is in a message (key, value or header) of `topics`, read from the
    start to their current end, as `topic@offset`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found: list[str] = []
    try:
        from aiokafka import TopicPartition

        partitions = [
            TopicPartition(topic, p) for topic in topics for p in (consumer.partitions_for_topic(topic) or set())
        ]
        if not partitions:
            await consumer.client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for topic in topics for p in (consumer.partitions_for_topic(topic) or set())
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > 0}
        lowered = [n.lower().encode() for n in needles]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while left and loop.time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    raw = b"|".join(
                        [record.key or b"", record.value or b"", *(v or b"" for _, v in record.headers or ())]
                    ).lower()
                    found.extend(f"{tp.topic}@{record.offset}" for n in lowered if n in raw)
                    if record.offset + 1 >= ends[tp]:
                        left.discard(tp)
        assert not left, f"topics not read to their end: {left}"
    finally:
        await consumer.stop()
    return found


# --- a webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `script` statuses in turn, then `status`."""

    status: int = 200
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = self.script.pop(0) if self.script else self.status
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(headers, body, status))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"thanks" if status < 300 else b"not now"})

    def of_type(self, event_type: str, *, status: int | None = 200) -> list[Received]:
        return [r for r in self.received if r.json["type"] == event_type and (status is None or r.status == status)]


# Every column type a secret could be written into: text of any kind, JSON, byte strings.
_SEARCHED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea", "ARRAY")


async def columns_holding(database_url: str, needle: str) -> list[str]:
    """`table.column` of every column of every table in the database that holds `needle`
    (as text, inside JSON or arrays, or as UTF-8 bytes): where a secret would be found by someone
    reading the database."""
    import asyncpg

    from ticketloop_shared.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        columns = await conn.fetch(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.data_type = ANY($1)",
            list(_SEARCHED_TYPES),
        )
        found = []
        for table, column, data_type in columns:
            if data_type == "bytea":
                condition = f'position($1::bytea in "{column}") > 0'
                arg: Any = needle.encode()
            else:
                condition = f'strpos("{column}"::text, $1) > 0'
                arg = needle
            if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE {condition})', arg):
                found.append(f"{table}.{column}")
        return found
    finally:
        await conn.close()
