"""`ticketloop bench`: measure the loop on a throw-away embedded stack and print the figures.

Measures what a channel and an agent feel: `POST /v1/tickets` latency, and how long until
routing's `ticket.assigned` is on the topic and until intake shows the assignee.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Say, Stack, StackConfig
from ticketloop_shared.auth import Role, issue_token
from ticketloop_shared.events import Topics

CHANNEL_KEY = "tl-dev-channel-key"


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[max(0, int(len(values) * 0.95) - 1)]
    return (
        f"n={len(values)} p50={statistics.median(values) * 1000:.1f}ms "
        f"p95={p95 * 1000:.1f}ms max={values[-1] * 1000:.1f}ms"
    )


async def _measure(stack: Stack, tickets: int, concurrency: int, say: Say) -> None:
    intake = stack.services["intake"].url
    platform = stack.platform()
    secret = platform.auth_secret.get_secret_value()
    agent = {"Authorization": f"Bearer {issue_token(secret, sub='bench', role=Role.AGENT)}"}
    seen: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        Topics(platform.topic_prefix).for_family("ticket"),
        bootstrap_servers=platform.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=10,
    )
    await consumer.start()

    async def watch() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    event: dict[str, Any] = json.loads(r.value)
                    if event["type"] == "ticket.assigned.v1":
                        seen.setdefault(event["subject"], now)

    watcher = asyncio.create_task(watch())
    async with httpx.AsyncClient(base_url=intake, timeout=30) as client:

        async def post(i: int) -> tuple[str, float, float]:
            body = {
                "channel": "web",
                "customer": {"id": f"bench-{i}", "name": "Bench Customer"},
                "category": ["billing", "product_quality", "logistics_delay", "account"][i % 4],
                "subject": "benchmark ticket",
                "description": "measuring the loop",
            }
            start = time.perf_counter()
            r = await client.post("/v1/tickets", json=body, headers={"X-Api-Key": CHANNEL_KEY})
            r.raise_for_status()
            return r.json()["id"], start, time.perf_counter() - start

        async def wait_seen(ids: list[str]) -> None:
            deadline = time.monotonic() + 60
            while not all(t in seen for t in ids) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        # 1. one ticket at a time: the latency a channel and an agent see on an idle system
        sequential = max(1, min(50, tickets))
        say(f"bench 1/2: {sequential} tickets one at a time")
        post_latency, visible, posted = [], [], {}
        for i in range(sequential):
            tid, start, took = await post(i)
            post_latency.append(took)
            posted[tid] = start
            while (await client.get(f"/v1/tickets/{tid}", headers=agent)).json()["assignee"] is None:
                await asyncio.sleep(0.01)
            visible.append(time.perf_counter() - start)
        await wait_seen(list(posted))
        say(f"  POST /v1/tickets latency:                 {_ms(post_latency)}")
        say(f"  POST -> ticket.assigned on the topic:     {_ms([seen[t] - s for t, s in posted.items()])}")
        say(f"  POST -> assignee visible in GET (10ms poll): {_ms(visible)}")

        # 2. a burst: how fast the loop absorbs load (no polling, the topic tells)
        say(f"bench 2/2: {tickets} tickets, {concurrency} channels posting at once")
        limiter = asyncio.Semaphore(concurrency)
        burst: list[tuple[str, float, float]] = []

        async def limited(i: int) -> None:
            async with limiter:
                burst.append(await post(sequential + i))

        started = time.perf_counter()
        await asyncio.gather(*(limited(i) for i in range(tickets)))
        posted_all = time.perf_counter() - started
        await wait_seen([t for t, _, _ in burst])
        assigned_all = max(seen[t] for t, _, _ in burst if t in seen) - started
        missing = sum(1 for t, _, _ in burst if t not in seen)
        say(f"  POST /v1/tickets latency under load:      {_ms([took for _, _, took in burst])}")
        say(f"  POST -> ticket.assigned under load:       {_ms([seen[t] - s for t, s, _ in burst if t in seen])}")
        say(
            f"  accepted: {tickets / posted_all:.0f} tickets/s; assigned: {tickets / assigned_all:.0f} tickets/s"
            f"{f'; {missing} not assigned within 60 s' if missing else ''}"
        )
    watcher.cancel()
    await consumer.stop()


def bench(*, tickets: int, concurrency: int, say: Say) -> int:
    """Run the benchmark on free ports in a temporary folder; print the figures."""
    root = Path(tempfile.mkdtemp(prefix="ticketloop-bench-"))
    config = StackConfig(
        data_dir=root,
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={"TICKETLOOP_LOG_LEVEL": "WARNING"},
    )
    stack = Stack(config, say=say)
    try:
        stack.start()
        asyncio.run(_measure(stack, tickets, concurrency, say))
    finally:
        stack.stop()
    return 0
