"""The adaptive fetch wait: short while records flow, long after a quiet spell, short again
from the first record; and the private aiokafka attribute it relies on still being used."""

from __future__ import annotations

import inspect

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher

from ticketloop_shared.messaging.kafka import FetchWait, set_fetch_wait


def test_the_wait_stays_short_while_records_flow_and_turns_long_only_after_the_quiet_spell() -> None:
    wait = FetchWait(short_ms=25, long_ms=1000, idle_after=5.0, now=100.0)
    assert wait.current_ms == 25
    assert wait.after_poll(True, 101.0) == 25
    assert wait.after_poll(False, 105.9) == 25  # 4.9 s since the last record
    assert wait.after_poll(False, 106.0) == 1000
    assert wait.after_poll(False, 200.0) == 1000


def test_the_first_record_after_a_quiet_spell_makes_the_wait_short_again() -> None:
    wait = FetchWait(short_ms=25, long_ms=1000, idle_after=5.0, now=0.0)
    assert wait.after_poll(False, 10.0) == 1000
    assert wait.after_poll(True, 10.5) == 25
    assert wait.after_poll(False, 14.0) == 25
    assert wait.after_poll(False, 15.5) == 1000


def test_a_long_wait_shorter_than_the_short_one_is_never_used() -> None:
    wait = FetchWait(short_ms=200, long_ms=100, idle_after=0.0, now=0.0)
    assert wait.after_poll(False, 1.0) == 200


def test_aiokafkas_fetcher_reads_the_attribute_set_fetch_wait_changes_for_every_request() -> None:
    # aiokafka is pinned; if another version renames the attribute or stops reading it per
    # request, the adaptive wait would silently stay at its start value: fail here instead.
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(Fetcher.__init__)
    assert "self._fetch_max_wait_ms" in inspect.getsource(Fetcher._get_actions_per_node)


async def test_set_fetch_wait_changes_the_fetchers_wait_and_does_nothing_before_start() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    set_fetch_wait(consumer, 1000)  # not started: no fetcher yet

    class _Fetcher:
        _fetch_max_wait_ms = 25

    fetcher = _Fetcher()
    consumer._fetcher = fetcher
    set_fetch_wait(consumer, 1000)
    assert fetcher._fetch_max_wait_ms == 1000
