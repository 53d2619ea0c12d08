"""`ticketloop bench-review`: the weekly and monthly reviews over a million tickets.

1. Load: N tickets spread over the twelve months before the bench's "now" (a realistic mix of
   channels, categories, departments, segments, reply counts, reopens, repeat contacts, SLA
   outcomes of two metrics per ticket, survey answers for a third of the resolved), through
   retrospective's documented bulk path (`ticketloop_retrospective.facts.bulk`, COPY), then
   ANALYZE.
2. Run retrospective on embedded PostgreSQL and Tansu, and ask it over HTTP for weekly and
   monthly reports (plain, and filtered by channel and segment) and a drill-down page, several
   times each; print the latency of each (median and worst) against the 500 ms target.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from ticketloop_embedded.broker import EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_retrospective.app import MIGRATIONS, create_app
from ticketloop_retrospective.facts.bulk import copy_rows
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import asyncpg_dsn, ensure_database
from ticketloop_shared.migrations import upgrade
from ticketloop_shared.settings import PlatformSettings

Say = Callable[[str], None]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
CHANNELS = ("web", "app", "email", "messaging", "phone", "counter")
CATEGORIES = ("billing", "account", "product_quality", "logistics_delay", "service_attitude", "other")
DEPARTMENTS = {
    "billing": "finance",
    "account": "after_sales",
    "product_quality": "technical",
    "logistics_delay": "supply_chain",
    "service_attitude": "after_sales",
    "other": "after_sales",
}
SEGMENTS = ("new", "high_value", "churn_risk", "potential")
BATCH = 20_000
SECRET = "bench-review-secret-0123456789abcdef0123"
TARGET_MS = 500.0


def _tickets(
    count: int, seed: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Batches of (ticket rows, clock rows, answer rows)."""
    rnd = random.Random(seed)
    customers = max(count // 5, 1)
    start = NOW - YEAR
    tickets: list[tuple[Any, ...]] = []
    clocks: list[tuple[Any, ...]] = []
    answers: list[tuple[Any, ...]] = []
    for n in range(count):
        ticket_id = uuid.uuid4()
        # In the order they were reported, as the event path writes them (rows of one period lie together).
        created = start + timedelta(seconds=(n + rnd.random()) / count * YEAR.total_seconds())
        category = rnd.choices(CATEGORIES, weights=(25, 10, 20, 30, 5, 10))[0]
        customer = f"c{rnd.randrange(customers)}"
        assigned = created + timedelta(seconds=rnd.expovariate(1 / 60))
        first_response = created + timedelta(minutes=rnd.lognormvariate(2.5, 0.8))
        resolved = None if rnd.random() < 0.08 else created + timedelta(minutes=rnd.lognormvariate(6, 1.2))
        reopened = resolved + timedelta(hours=rnd.uniform(1, 48)) if resolved and rnd.random() < 0.05 else None
        replies = [uuid.uuid4() for _ in range(rnd.choices((0, 1, 2, 3, 4), weights=(5, 50, 25, 12, 8))[0])]
        repeats = [uuid.uuid4()] if rnd.random() < 0.04 else []
        segment = rnd.choices(SEGMENTS, weights=(20, 20, 10, 50))[0]
        answered = resolved + timedelta(hours=rnd.uniform(2, 48)) if resolved and rnd.random() < 0.33 else None
        csat = rnd.choices((1, 2, 3, 4, 5), weights=(5, 5, 15, 35, 40))[0] if answered else None
        tickets.append(
            (
                ticket_id, f"B{n:09d}", rnd.choice(CHANNELS), category, rnd.choice(("normal", "urgent", "critical")),
                customer, created, assigned, assigned, f"agent-{rnd.randrange(200)}", DEPARTMENTS[category],
                first_response, resolved, reopened, None, "refund", "customer", float(rnd.randrange(100, 50_000)),
                replies, [reopened] if reopened else [], repeats, rnd.random() < 0.05, segment, csat, None, answered,
            )
        )  # fmt: skip
        for clock, due in (("acknowledgement", 10.0), ("first_response", 15.0)):
            met = first_response <= created + timedelta(minutes=due)
            clocks.append((ticket_id, clock, 1, "met" if met else "breached",
                           first_response if met else created + timedelta(minutes=due)))  # fmt: skip
        if answered:
            answers.append((uuid.uuid4(), ticket_id, customer, "ticket", csat, None, None, None, None, None, None,
                            answered, segment))  # fmt: skip
        if len(tickets) == BATCH:
            yield tickets, clocks, answers
            tickets, clocks, answers = [], [], []
    if tickets:
        yield tickets, clocks, answers


async def load(url: str, count: int, say: Say, seed: int = 7) -> float:
    """Bulk-load `count` tickets; the seconds it took."""
    began = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        loaded = 0
        for tickets, clocks, answers in _tickets(count, seed):
            await copy_rows(conn, "ticket_facts", tickets)
            await copy_rows(conn, "clock_facts", clocks)
            await copy_rows(conn, "answer_facts", answers)
            loaded += len(tickets)
            if loaded % 100_000 < BATCH:
                say(f"  loaded {loaded:,} tickets ({time.perf_counter() - began:.0f} s)")
        customers = max(count // 5, 1)
        rnd = random.Random(seed)
        await copy_rows(
            conn,
            "segment_facts",
            (
                (f"c{c}", NOW - YEAR + timedelta(days=rnd.randrange(365)), rnd.choice(SEGMENTS))
                for c in range(customers)
            ),
        )
        say("  VACUUM ANALYZE (autovacuum's work on a live system: statistics and the visibility map)")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - began


async def measure(base: str, say: Say, repeats: int) -> dict[str, dict[str, float]]:
    """Latency of each report request, `repeats` times after one warm-up."""
    token = issue_token(SECRET, sub="bench", role=Role.ADMIN, name="bench", department=None, ttl_seconds=3600)
    headers = {"Authorization": f"Bearer {token}"}
    requests: dict[str, tuple[str, dict[str, str | int]]] = {
        "weekly": ("/v1/reports/weekly", {"week": "2026-W40"}),
        "monthly": ("/v1/reports/monthly", {"month": "2026-10"}),
        "weekly, channel=web": ("/v1/reports/weekly", {"week": "2026-W40", "channel": "web"}),
        "monthly, segment=high_value": ("/v1/reports/monthly", {"month": "2026-10", "segment": "high_value"}),
        "drill-down page (monthly opened)": (
            "/v1/reports/tickets",
            {"period": "2026-10", "metric": "tickets_opened", "limit": 100},
        ),
    }
    figures: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
        for name, (path, params) in requests.items():
            r = await client.get(path, params=params)
            r.raise_for_status()
            opened = r.json().get("tickets_opened")
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                (await client.get(path, params=params)).raise_for_status()
                times.append((time.perf_counter() - began) * 1000)
            figures[name] = {"median_ms": statistics.median(times), "max_ms": max(times), "tickets_opened": opened or 0}
            verdict = "OK" if max(times) < TARGET_MS else "OVER TARGET"
            say(f"  {name:34s} median {statistics.median(times):7.1f} ms  worst {max(times):7.1f} ms  {verdict}"
                + (f"  ({opened:,} tickets opened)" if opened else ""))  # fmt: skip
    return figures


async def _serve_and_measure(settings: RetrospectiveSettings, say: Say, repeats: int) -> dict[str, dict[str, float]]:
    port = free_port()
    app = create_app(settings, clock=FrozenClock(NOW))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return await measure(f"http://127.0.0.1:{port}", say, repeats)
    finally:
        server.should_exit = True
        await task


def bench_review(*, tickets: int, repeats: int, json_path: Path, say: Say) -> int:
    """Load, measure, print; 0 when every report answered under the target."""
    data = Path(tempfile.mkdtemp(prefix="ticketloop-bench-review-"))
    pg = EmbeddedPostgres(data / "pg", free_port())
    broker = EmbeddedBroker(free_port(), log_path=data / "broker.log")
    try:
        say(f"starting PostgreSQL and the broker in {data}")
        pg.start()
        broker.start()
        url = pg.url("ticketloop_retrospective")
        asyncio.run(ensure_database(url))
        upgrade(MIGRATIONS, url)
        say(f"loading {tickets:,} tickets over the year before {NOW:%Y-%m-%d} through the bulk path")
        seconds = asyncio.run(load(url, tickets, say))
        say(f"  loaded in {seconds:.0f} s")
        settings = RetrospectiveSettings(
            database_url=url,
            migrate_on_start=False,
            platform=PlatformSettings(kafka_bootstrap=broker.bootstrap, auth_secret=SECRET, log_json=False),
        )
        say(f"reports over HTTP ({repeats} runs each after a warm-up; target < {TARGET_MS:.0f} ms):")
        figures = asyncio.run(_serve_and_measure(settings, say, repeats))
    finally:
        broker.stop()
        pg.stop()
    result = {"tickets": tickets, "load_seconds": seconds, "reports": figures, "target_ms": TARGET_MS}
    json_path.write_text(json.dumps(result, indent=2))
    say(f"figures written to {json_path}")
    return 0 if all(f["max_ms"] < TARGET_MS for f in figures.values()) else 1
