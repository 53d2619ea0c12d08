"""`ticketloop run --replicas routing=3,sla=2`: what it accepts, how it says no, and where each
replica listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketloop_embedded.__main__ import config_from_env, main
from ticketloop_embedded.services import SERVICES
from ticketloop_embedded.stack import Stack, StackConfig, parse_replicas


def test_replicas_per_service() -> None:
    assert parse_replicas("routing=3,sla=2") == {"routing": 3, "sla": 2}
    assert parse_replicas(" routing = 2 , ") == {"routing": 2}
    assert parse_replicas("") == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("billing=2", "unknown service 'billing' (one of intake, routing, sla, feedback, retrospective)"),
        ("routing=0", "a service runs at least 1 replica"),
        ("routing=-1", "a service runs at least 1 replica"),
        ("routing=two", "whole number"),
        ("routing", "expected SERVICE=N"),
    ],
)
def test_a_wrong_replica_count_is_a_clear_error(text: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_replicas(text)
    with pytest.raises(SystemExit) as stopped:
        main(["run", "--replicas", text])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_replica_n_listens_on_the_service_port_plus_n_minus_one_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETLOOP_SLA_REPLICAS", "2")
    config = config_from_env({"routing": 3})
    assert config.replicas["routing"] == 3 and config.replicas["sla"] == 2 and config.replicas["intake"] == 1
    stack = Stack(config)
    assert [stack.replica_port("routing", n) for n in (1, 2, 3)] == [8002, 8102, 8202]


def test_without_a_step_extra_replicas_get_free_ports(tmp_path: Path) -> None:
    config = StackConfig(
        data_dir=tmp_path, pg_port=1, broker_port=2, service_ports={s.name: 8000 + i for i, s in enumerate(SERVICES)}
    )
    stack = Stack(config)
    assert stack.replica_port("intake", 1) == 8000
    assert stack.replica_port("intake", 2) not in {8000, 8100}
