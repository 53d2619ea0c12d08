"""Two routing processes in one consumer group, started by the supervisor code `ticketloop run
--replicas routing=2` uses, on fresh databases (both migrate at once): they split the
partitions, each handles a share of a burst, and every ticket is assigned exactly once. Each
replica says who it is in its metrics and its logs."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support import TEST_SECRET, channel_headers, create_ticket_body, eventually
from ticketloop_embedded.bench import ProcessView, samples
from ticketloop_embedded.organisations import uncapped_env
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Stack, StackConfig
from ticketloop_shared.db import asyncpg_dsn

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-stacks")


TICKETS = 60


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix="ticketloop-replicas-")),
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        services=tuple(s for s in SERVICES if s.name in ("intake", "routing")),
        replicas={"routing": 2},
        env={
            "TICKETLOOP_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "TICKETLOOP_KAFKA_HEARTBEAT_MS": "500",
            # See the `platform` fixture: an idle consumer costs a quarter of what it does at 25 ms.
            "TICKETLOOP_KAFKA_FETCH_MAX_WAIT_MS": "200",
            "TICKETLOOP_AUTH_SECRET": TEST_SECRET,
            **uncapped_env(),
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


async def views(stack: Stack, http: httpx.AsyncClient, *names: str) -> dict[str, ProcessView]:
    return {n: ProcessView.of((await http.get(f"{stack.services[n].url}/metrics")).text) for n in names}


def created_handled(text: str) -> float:
    return sum(
        v
        for labels, v in samples(text, "ticketloop_events_consumed_total")
        if labels.get("type") == "ticket.created.v1" and labels.get("outcome") == "handled"
    )


async def fetch(stack: Stack, service: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(stack.pg.url(f"ticketloop_{service}")))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_replicas_split_the_partitions_and_handle_each_ticket_once(stack: Stack) -> None:
    replicas = ("routing", "routing-2")
    assert set(stack.services) == {"intake", *replicas}
    async with httpx.AsyncClient(timeout=30) as http:
        # Both members own partitions once the group has settled.
        async def split() -> dict[str, ProcessView] | None:
            seen = await views(stack, http, *replicas)
            return seen if all(v.partitions > 0 for v in seen.values()) else None

        settled = await eventually(split, timeout=30)
        assert {v.replica for v in settled.values()} == set(replicas)  # ticketloop_replica_info

        # A burst of tickets, ten at a time.
        gate = asyncio.Semaphore(10)

        async def report(i: int) -> str:
            async with gate:
                r = await http.post(
                    f"{stack.services['intake'].url}/v1/tickets",
                    json=create_ticket_body(category="billing", subject=f"replica burst {i}"),
                    headers=channel_headers(),
                )
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        ids = await asyncio.gather(*(report(i) for i in range(TICKETS)))

        async def all_assigned() -> bool:
            rows = await fetch(
                stack,
                "intake",
                "SELECT count(*) FROM tickets WHERE assignee_id IS NOT NULL AND id = ANY($1::uuid[])",
                ids,
            )
            return bool(rows[0][0] == TICKETS)

        await eventually(all_assigned, timeout=40)

        # Each replica handled a share of the burst; together, each ticket exactly once.
        handled = {n: created_handled((await http.get(f"{stack.services[n].url}/metrics")).text) for n in replicas}
        assert all(count > 0 for count in handled.values()), handled
        assert sum(handled.values()) == TICKETS, handled
        final = await views(stack, http, *replicas)
        assert all(v.partitions > 0 for v in final.values())

    assigned = await fetch(
        stack,
        "routing",
        "SELECT key, count(*) AS n FROM outbox WHERE event_type LIKE 'ticket.assigned.%' GROUP BY key",
    )
    assert {r["key"] for r in assigned} == set(ids)
    assert {r["n"] for r in assigned} == {1}
    inbox = await fetch(stack, "routing", "SELECT count(*) FROM inbox WHERE event_type = 'ticket.created.v1'")
    assert inbox[0][0] == TICKETS

    # Each replica's log lines name it.
    for name in replicas:
        log = (stack.config.data_dir / "logs" / f"{name}.log").read_text()
        assert f'"replica": "{name}"' in log
