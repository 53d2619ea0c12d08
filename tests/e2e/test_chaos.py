"""Nothing lost, nothing doubled, whatever fails: steady load on the five services as separate
processes, two of intake and two of routing, while each process is SIGKILLed, PostgreSQL's
postmaster is SIGKILLed and the broker is replaced by an empty one; then every service's database
is counted against what the channel was told.

`make chaos` runs the same plan longer, with a 60-second database outage, once with one process
per service (PostgreSQL stopped) and once with these replicas, and prints the tables.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from ticketloop_embedded.chaos import Fault, default_faults, kill_service, process_names, run_chaos
from ticketloop_embedded.organisations import uncapped_env
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Stack, StackConfig

# The chaos tests run last, on one worker, after the other workers ran out of tests: what they
# measure (nothing lost across kills and a broker replacement, within drain times) is about the
# system, not about a machine starved by three other workers. See `_rank` in conftest.py.
pytestmark = [pytest.mark.xdist_group("e2e-chaos"), pytest.mark.last]


# The replicas of the fault plan's run: the load spread over intake's, routing's sharing the
# partitions, each killed while its sibling carries on.
REPLICAS = {"intake": 2, "routing": 2}


def _stack(replicas: Mapping[str, int]) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=Path(tempfile.mkdtemp(prefix="ticketloop-chaos-")),
        pg_port=free_port(),
        broker_port=free_port(),
        service_ports={s.name: free_port() for s in SERVICES},
        env={
            "TICKETLOOP_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "TICKETLOOP_KAFKA_HEARTBEAT_MS": "500",
            # See the `platform` fixture: an idle consumer costs a quarter of what it does at 25 ms.
            "TICKETLOOP_KAFKA_FETCH_MAX_WAIT_MS": "200",
            "TICKETLOOP_BROKER_CHECK_SECONDS": "1",
            **uncapped_env(),
            "TICKETLOOP_LOG_LEVEL": "INFO",
        },
        replicas=dict(replicas),
        scratch=True,
    )
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(config.data_dir, ignore_errors=True)


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from _stack({})


@pytest.fixture
def replicated_stack() -> Iterator[Stack]:
    yield from _stack(REPLICAS)


@pytest.mark.timeout(300)
async def test_every_fault_in_turn_with_replicas_loses_nothing_and_doubles_nothing(replicated_stack: Stack) -> None:
    stack = replicated_stack
    lines: list[str] = []
    faults = default_faults(db_outage=8, replicas=REPLICAS)
    outcome = await run_chaos(stack, rate=8, seconds=36, faults=faults, drain_timeout=120, say=lines.append)
    report = "\n".join(lines) + "\n" + outcome.table()
    # Each service's first process SIGKILLed, PostgreSQL's postmaster SIGKILLed, the broker
    # replaced while the second replicas were SIGKILLed (they rejoin after it).
    assert set(process_names(REPLICAS)) == set(stack.services), report
    assert outcome.faults == [
        *(f"kill {name}" for name in ("routing", "sla", "intake", "feedback", "retrospective")),
        "postgres SIGKILLed, down 8s",
        "broker replaced while routing-2, intake-2 restart",
    ], report
    assert len(outcome.accepted) > 200, report
    assert outcome.retries > 0, "the faults were felt by the channel: " + report
    # The channel's requests were spread over both intake replicas, and both answered.
    intakes = {stack.services[name].url for name in ("intake", "intake-2")}
    assert set(outcome.answered) == intakes, report
    assert min(outcome.answered.values()) > len(outcome.accepted) / 2, report
    assert outcome.problems == [], report


@pytest.mark.timeout(300)
async def test_a_burst_while_consumers_are_killed_ends_with_exact_counts_everywhere(stack: Stack) -> None:
    lines: list[str] = []
    faults = [
        Fault(4, "kill routing", kill_service("routing")),
        Fault(8, "kill retrospective", kill_service("retrospective")),
    ]
    outcome = await run_chaos(
        stack, rate=150, seconds=0, total=800, faults=faults, drain_timeout=120, say=lines.append, resolve_every=0
    )
    report = "\n".join(lines) + "\n" + outcome.table()
    # 800 at up to 150/s (the suite's machine takes about 30/s while the rest of the loop works):
    # the kills at 4 s and 8 s fall inside the sending, and the consumers still have a backlog to
    # catch up on after their restart (`make chaos` runs the long plan).
    assert len(outcome.accepted) == 800, report
    assert outcome.faults == ["kill routing", "kill retrospective"], report
    assert outcome.problems == [], report
