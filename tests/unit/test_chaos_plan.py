"""`ticketloop chaos --replicas intake=2,routing=2`: which process the plan kills when, and how
PostgreSQL goes down (the run itself is in tests/e2e/test_chaos.py and `make chaos`)."""

from __future__ import annotations

import itertools
from pathlib import Path
from unittest import mock

import pytest

from ticketloop_embedded.__main__ import main
from ticketloop_embedded.chaos import default_faults, process_names
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Stack, StackConfig


def test_every_process_is_named_as_the_stack_names_it() -> None:
    assert process_names({}) == ["routing", "sla", "intake", "feedback", "retrospective"]
    assert process_names({"intake": 2, "routing": 2}) == [
        *["routing", "sla", "intake", "feedback", "retrospective"],
        *["routing-2", "intake-2"],
    ]
    assert process_names({"routing": 3})[-2:] == ["routing-2", "routing-3"]


def test_with_replicas_postgres_is_sigkilled_and_the_broker_replaced_while_second_replicas_restart() -> None:
    single = default_faults(60)
    assert [f.name for f in single[5:]] == ["postgres down 60s", "broker replaced"]
    plan = default_faults(60, {"intake": 2, "routing": 2})
    assert [f.name for f in plan] == [
        *(f"kill {n}" for n in ["routing", "sla", "intake", "feedback", "retrospective"]),
        "postgres SIGKILLed, down 60s",
        "broker replaced while routing-2, intake-2 restart",
    ]
    # A few seconds apart, the broker after PostgreSQL is back.
    assert all(b.at - a.at >= 3 for a, b in itertools.pairwise(plan))
    assert plan[-1].at == plan[-2].at + 60 + 5


def test_the_names_match_the_processes_the_stack_starts(tmp_path: Path) -> None:
    replicas = {"intake": 2, "routing": 2}
    config = StackConfig(
        data_dir=tmp_path,
        pg_port=1,
        broker_port=2,
        service_ports={s.name: 9000 + i for i, s in enumerate(SERVICES)},
        replicas=replicas,
    )
    stack = Stack(config)
    with (
        mock.patch("ticketloop_embedded.stack.ServiceProcess.start"),
        mock.patch("ticketloop_embedded.stack.ServiceProcess.wait_ready"),
        mock.patch.object(stack.pg, "start"),
        mock.patch.object(stack.broker, "start"),
        mock.patch.object(stack, "create_topics"),
        mock.patch.object(Stack, "_create_databases", mock.AsyncMock()),
    ):
        stack._start()
    assert set(stack.services) == set(process_names(replicas))


def test_chaos_refuses_a_wrong_replica_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["chaos", "--replicas", "routing=0"])
    assert stopped.value.code == 2
    assert "a service runs at least 1 replica" in capsys.readouterr().err
