"""Session-wide real infrastructure: one embedded PostgreSQL and one Tansu broker, on free
ports; each test gets its own databases and its own topic prefix, so tests never share state."""

from __future__ import annotations

import asyncio
import importlib
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from tests.support import TEST_SECRET

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
    """Start PostgreSQL and the broker once per test session; stop them at the end."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-test-"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    pg.start()
    broker = EmbeddedBroker(free_port(), log_path=root / "broker.log")
    try:
        broker.start()
        yield Infra(pg=pg, broker=broker, root=root)
    finally:
        broker.stop()
        pg.stop()


@pytest.fixture
def platform(infra: Infra) -> PlatformSettings:
    """Backbone settings for one test: its own topic prefix, short timeouts."""
    return PlatformSettings(
        kafka_bootstrap=infra.broker.bootstrap,
        auth_secret=SecretStr(TEST_SECRET),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        topic_partitions=4,
        kafka_session_timeout_ms=3000,
        kafka_heartbeat_ms=500,
        consumer_max_attempts=3,
        consumer_backoff_seconds=0.05,
        consumer_backoff_max_seconds=0.2,
        outbox_fallback_poll_seconds=0.5,
        log_json=False,
    )


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
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return url

    return create
