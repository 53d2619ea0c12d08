"""The pure helpers of `ticketloop bench-webhooks`: percentiles, sustained rate, duplicates and
the per-ticket order check."""

from __future__ import annotations

import asyncio
import math

from ticketloop_embedded.bench_webhooks import (
    Receiver,
    duplicates,
    latency_figures,
    order_check,
    percentile,
    sustained_rate,
)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([3.0, 1.0, 2.0], 50) == 2
    assert math.isnan(percentile([], 50))


def test_latency_figures_in_milliseconds() -> None:
    figures = latency_figures([0.010, 0.020, 0.500])
    assert figures == {"count": 3, "p50_ms": 20.0, "p99_ms": 500.0, "max_ms": 500.0}


def test_sustained_rate_leaves_out_ramp_and_tail() -> None:
    steady = [10 + i / 1000 for i in range(10_000)]  # 1,000/s for 10 s
    slow_start = [i * 1.0 for i in range(5)]  # a slow ramp before it
    assert abs(sustained_rate(slow_start + steady) - 1000) < 5
    assert sustained_rate([1.0, 2.0]) == 0.0


def test_duplicates_count_repeats() -> None:
    assert duplicates(["a", "b", "a", "a", "c"]) == 2
    assert duplicates([]) == 0


def test_order_check_in_order_across_groups() -> None:
    position = {"a1": ("t1", 1), "b1": ("t2", 2), "a2": ("t1", 3), "b2": ("t2", 4)}
    check = order_check(["b1", "a1", "b2", "a2"], position)
    assert (check.groups, check.out_of_order_groups, check.inversions) == (2, 0, 0)


def test_order_check_finds_an_inversion_and_ignores_repeats_and_strangers() -> None:
    position = {"a1": ("t1", 1), "a2": ("t1", 2), "a3": ("t1", 3), "b1": ("t2", 4)}
    # a1 again after a2 is a duplicate (at least once), not an inversion; x is not of the phase.
    assert order_check(["a1", "a2", "a1", "x", "a3", "b1"], position).out_of_order_groups == 0
    check = order_check(["a1", "a3", "a2", "b1"], position)
    assert (check.out_of_order_groups, check.inversions) == (1, 1)


def test_receiver_records_and_answers() -> None:
    async def scenario() -> None:
        receiver = Receiver()
        await receiver.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            body = b'{"timestamp":"2026-01-01T00:00:00+00:00"}'
            request = (
                b"POST /channel HTTP/1.1\r\nHost: x\r\nwebhook-id: w1\r\nContent-Length: %d\r\n\r\n" % len(body)
            ) + body
            writer.write(request)
            assert (await reader.readline()).startswith(b"HTTP/1.1 204")
            await reader.readline()
            receiver.failing = True
            writer.write(request)
            assert (await reader.readline()).startswith(b"HTTP/1.1 503")
            writer.close()
        finally:
            await receiver.stop()
        assert [(a.path, a.webhook_id, a.status) for a in receiver.arrivals] == [
            ("/channel", "w1", 204),
            ("/channel", "w1", 503),
        ]

    asyncio.run(scenario())
