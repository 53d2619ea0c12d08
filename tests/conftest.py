"""Session-wide real infrastructure: one embedded PostgreSQL and one Tansu broker, on free
ports; each test gets its own databases and its own topic prefix, so tests never share state."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from tests.support import TEST_SECRET, Receiver

# intake's master key for every test (and every service a test starts), so no test depends on,
# or writes, the development key file in the working folder.
os.environ.setdefault("TICKETLOOP_INTAKE_MASTER_KEY", "ticketloop-test-master-key-0123456789abcdef")
from ticketloop_embedded.broker import EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_shared import migrations
from ticketloop_shared.db import asyncpg_dsn, ensure_database
from ticketloop_shared.settings import PlatformSettings


@dataclass
class Infra:
    """The running PostgreSQL server and broker."""

    pg: EmbeddedPostgres
    broker: EmbeddedBroker
    root: Path


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """Start PostgreSQL and the broker once per test session (once per xdist worker); stop them
    at the end. The server's data is thrown away, so it skips flushing to disk."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-test-"))
    pg = EmbeddedPostgres(root / "pg", free_port(), durable=False)
    pg.start()
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        broker.start()
        yield Infra(pg=pg, broker=broker, root=root)
    finally:
        broker.stop()
        pg.stop(immediate=True)
        # Hundreds of cloned databases: a few GB per worker, four workers per run.
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def platform(infra: Infra) -> Iterator[PlatformSettings]:
    """Backbone settings for one test: its own topic prefix, short timeouts. The test's topics
    are deleted afterwards: every metadata answer lists every topic, so a broker that kept
    hundreds of tests' topics would make each later test pay for all of them."""
    settings = PlatformSettings(
        kafka_bootstrap=infra.broker.bootstrap,
        auth_secret=SecretStr(TEST_SECRET),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        topic_partitions=4,
        # Tansu holds a group's JoinGroup for about half the session timeout, in whole seconds
        # (measured: 2,000 ms → 1 s to join, 3,000 → 2 s, 6,000 → 3 s), and every service a test
        # starts waits for its consumer to join: 2,000 with a heartbeat every 500 ms (four may be
        # missed) saves a second per service started.
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_ms=500,
        # The broker holds an empty fetch until data arrives or this long: a record is still
        # delivered within milliseconds, and each idle consumer polls 5 times a second, not 40
        # (measured on Tansu: about 2% of a core per idle consumer instead of 7%).
        kafka_fetch_max_wait_ms=200,
        consumer_max_attempts=3,
        consumer_backoff_seconds=0.05,
        consumer_backoff_max_seconds=0.2,
        outbox_fallback_poll_seconds=0.5,
        log_json=False,
    )
    yield settings
    _delete_topics(settings)


def _delete_topics(settings: PlatformSettings) -> None:
    """Best effort, in a thread of its own (the test's event loop is gone or still running)."""

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            prefix = f"{settings.topic_prefix}."
            mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()

    def run() -> None:
        with contextlib.suppress(Exception):
            asyncio.run(delete())

    thread = threading.Thread(target=run, name="delete-test-topics")
    thread.start()
    thread.join(timeout=15)


SERVICES = ("intake", "routing", "sla", "feedback", "retrospective")
_templates: dict[str, str] = {}


async def _template(infra: Infra, service: str) -> str:
    """A database migrated to head once per session, to clone for each test (STYLE rule 27)."""
    if service not in _templates:  # two tests racing here only migrate one template too many
        name = f"template_{service}_{uuid.uuid4().hex[:6]}"
        url = infra.pg.url(name)
        await ensure_database(url)
        module = importlib.import_module(f"ticketloop_{service}.app")
        await asyncio.to_thread(migrations.upgrade, module.MIGRATIONS, url)
        _templates[service] = name
    return _templates[service]


@pytest.fixture
def new_database(infra: Infra) -> Callable[[str], Awaitable[str]]:
    """A fresh database for one test: a clone of the migrated template when `label` names a
    service (its start-up migration then has nothing to do), else an empty one."""

    async def create(label: str) -> str:
        name = f"{label}_{uuid.uuid4().hex[:10]}"
        url = infra.pg.url(name)
        if label not in SERVICES:
            await ensure_database(url)
            return url
        template = await _template(infra, label)
        conn = await asyncpg.connect(asyncpg_dsn(infra.pg.url("postgres")))
        try:
            # FILE_COPY: a small template is copied as files, not block by block through the WAL
            # (measured 25 against 61 ms a clone; the suite makes hundreds).
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        finally:
            await conn.close()
        return url

    return create


# The tiers, slowest first: under pytest-xdist the workers take tests in this order, so the long
# end-to-end and fuzz runs start at once instead of trailing behind a finished suite.
TIERS = ("e2e", "fuzz", "browser", "integration", "contract", "deploy", "unit")


def _tier(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def _rank(item: pytest.Item) -> tuple[int, int, int]:
    tier = _tier(item.nodeid)
    last = 1 if item.get_closest_marker("last") else 0
    first = 0 if item.get_closest_marker("slow") else 1
    return (last, TIERS.index(tier) if tier in TIERS else len(TIERS), first)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tiers (and tests marked `slow`) first, tests marked `last` after everything else; the
    order within a tier is kept."""
    items.sort(key=_rank)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each tier's time: how many tests, their summed duration, and the wall-clock span from its
    first test's start to its last test's end (tiers overlap when workers run in parallel)."""
    spans: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    summed: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if not isinstance(report, pytest.TestReport):
                continue
            tier = _tier(report.nodeid)
            summed[tier] = summed.get(tier, 0.0) + report.duration
            if report.when == "call":
                counts[tier] = counts.get(tier, 0) + 1
            span = spans.setdefault(tier, [report.start, report.stop])
            span[0], span[1] = min(span[0], report.start), max(span[1], report.stop)
    if not spans:
        return
    terminalreporter.section("time per tier")
    for tier in sorted(spans, key=lambda t: TIERS.index(t) if t in TIERS else len(TIERS)):
        start, stop = spans[tier]
        terminalreporter.write_line(
            f"{tier:<12} {counts.get(tier, 0):>4} tests  {summed[tier]:>7.1f} s of test time  "
            f"{stop - start:>6.1f} s wall"
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on 127.0.0.1, served for the test."""
    app = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    app.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield app
    finally:
        server.should_exit = True
        await task
