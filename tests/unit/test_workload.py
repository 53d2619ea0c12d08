"""The bench-workspace's pure parts: the ticket mix and percentiles."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from ticketloop_embedded.bench_workspace import compare, live_agent_ids, organisation
from ticketloop_embedded.workload import (
    CHANNELS,
    latency_summary,
    mix_payload,
    order_number,
    percentile,
    ticket_payload,
)
from ticketloop_shared.vocabulary import Category, Channel, Need, Urgency


def test_the_mix_is_deterministic_and_valid_for_intake() -> None:
    assert ticket_payload(42) == ticket_payload(42)
    for i in range(300):
        body = ticket_payload(i)
        Channel(body["channel"]), Category(body["category"]), Need(body["need"]), Urgency(body["urgency"])
        assert body["channel"] != "proactive"
        assert 1 <= len(body["subject"]) <= 200
        assert 30 <= len(body["description"]) <= 10_000
        assert order_number(i) in body["subject"] or order_number(i) in body["description"]


def test_the_mix_spreads_over_customers_channels_and_languages() -> None:
    bodies = [ticket_payload(i) for i in range(2000)]
    assert len({b["customer"]["id"] for b in bodies}) > 1500
    assert set(Counter(b["channel"] for b in bodies)) == set(CHANNELS)
    assert len({b["category"] for b in bodies}) == 6
    assert any("remboursement" in b["subject"].lower() or "commande" in b["subject"].lower() for b in bodies)
    assert any("订单" in b["subject"] for b in bodies)
    # no two tickets are a repeat contact of each other (same customer, category and subject)
    keys = [(b["customer"]["id"], b["category"], b["subject"]) for b in bodies]
    assert len(set(keys)) == len(keys)


def test_a_customer_keeps_their_name() -> None:
    names: dict[str, set[str]] = {}
    for i in range(3000):
        c = ticket_payload(i)["customer"]
        names.setdefault(c["id"], set()).add(c["name"])
    assert all(len(n) == 1 for n in names.values())


def test_order_numbers_are_distinct() -> None:
    assert len({order_number(i) for i in range(10_000)}) == 10_000


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.001 * v for v in range(1, 201)])
    assert summary == {"count": 200, "p50_ms": 100.0, "p95_ms": 190.0, "p99_ms": 198.0, "max_ms": 200.0}
    assert latency_summary([])["count"] == 0


def test_organisation_spreads_live_agents_over_the_live_departments() -> None:
    org = organisation(lambda _: "claims", 200, seed_tickets=10_000)
    agents = live_agent_ids(200)
    assert len(agents) == 200
    ids = {a["id"] for a in org["agents"]}
    assert {a for a, _ in agents} <= ids
    assert set(org["categories"].values()) == {"claims"}


@pytest.mark.parametrize(
    ("with_tps", "with_p99", "worse"),
    [(50.0, 100.0, 0.0), (45.0, 100.0, 10.0), (50.0, 120.0, 20.0)],
)
def test_compare_reports_how_much_worse(with_tps: float, with_p99: float, worse: float) -> None:
    def run(tps: float, p99: float) -> dict[str, object]:
        return {
            "loop_tickets_per_s": tps,
            "post": {"p99_ms": p99},
            "post_to_assigned_p99_ms": 300.0,
            "cpu_ms_per_ticket": {"intake": 2.0, "workspace": 1.0, "bench client": 5.0},
        }

    c = compare(run(50.0, 100.0), run(with_tps, with_p99))
    assert max(c["loop_tickets_per_s_worse_pct"], c["post_p99_worse_pct"]) == worse
    assert c["cpu_ms_per_ticket_loop_services"] == [2.0, 2.0]


def test_the_seed_department_queues_a_fifth_of_the_seed() -> None:
    org = organisation(lambda _: "claims", 200, seed_tickets=10_000)
    [claims] = [d for d in org["departments"] if d["id"] == "claims"]
    seed_agents = [a for a in org["agents"] if a["department"] == "claims"]
    assert claims["default_capacity"] * len(seed_agents) == 8_000


def test_the_benchmark_mix_is_valid_for_intake_and_realistic() -> None:
    """`make bench`'s default body: most customers new, every channel, live sessions, long texts,
    a few repeat contacts (the same customer and subject again)."""
    from ticketloop_intake.tickets.schemas import TicketCreate

    n = 6000
    bodies = [mix_payload(i) for i in range(n)]
    assert mix_payload(4321) == bodies[4321]
    for body in bodies[:500]:
        TicketCreate.model_validate(body)
    assert all(200 <= len(b["description"]) <= 2000 for b in bodies)
    assert set(Counter(b["channel"] for b in bodies)) == set(CHANNELS)
    assert set(Counter(b["urgency"] for b in bodies)) == {u.value for u in Urgency}
    assert len({b["category"] for b in bodies}) == 6
    assert 0.05 < sum(b["live_session"] for b in bodies) / n < 0.3
    customers = Counter(b["customer"]["id"] for b in bodies)
    assert len(customers) / n > 0.8  # most tickets come from customers seen for the first time
    problems = Counter((b["customer"]["id"], b["subject"]) for b in bodies)
    repeats = sum(count - 1 for count in problems.values())
    assert 0.02 * n < repeats < 0.08 * n
