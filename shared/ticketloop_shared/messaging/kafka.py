"""Kafka clients configured for this system (portable between Tansu and Apache Kafka)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from ticketloop_shared.settings import PlatformSettings

log = logging.getLogger(__name__)


def make_producer(settings: PlatformSettings, *, client_id: str) -> AIOKafkaProducer:
    """acks=all without idempotence: exactly-once effect comes from outbox + inbox, not Kafka
    transactions (which Tansu does not support)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=15000,
    )


def make_consumer(
    settings: PlatformSettings, *topics: str, group_id: str, client_id: str, max_poll_records: int = 500
) -> AIOKafkaConsumer:
    """A group member with manual commits; offsets are committed only after the DB commit.

    The poll interval is long because a consumer waiting out a database outage keeps its batch
    (and its partitions) rather than bouncing through rebalances.
    """
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_poll_records=max_poll_records,
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
    )


class FetchWait:
    """How long the broker may hold this consumer's next fetch: short while records flow, long
    once none came for `idle_after` seconds, short again from the first record.

    Tansu (0.6) answers a held fetch only when its wait ends, even when data arrives meanwhile,
    so a long wait always is a long latency (measured: 500 ms held, 115 ms p50 produce to
    consume; 25 ms held, 11.6 ms). A short wait always is forty fetches a second per consumer
    at idle. Busy, the wait stays short; only the first record after a quiet spell pays the
    long wait once.
    """

    def __init__(self, *, short_ms: int, long_ms: int, idle_after: float, now: float) -> None:
        self.short_ms = short_ms
        self.long_ms = max(long_ms, short_ms)
        self.idle_after = idle_after
        self._last_record = now
        self.current_ms = short_ms

    def after_poll(self, got_records: bool, now: float) -> int:
        """The wait for the fetches after a poll that did (or did not) return records."""
        if got_records:
            self._last_record = now
            self.current_ms = self.short_ms
        elif now - self._last_record >= self.idle_after:
            self.current_ms = self.long_ms
        return self.current_ms


def adapt_fetch_wait(consumer: AIOKafkaConsumer, fetch_wait: FetchWait, got_records: bool, now: float) -> None:
    """After a poll, before the fetcher sends its next request (no await since the poll
    returned): the wait `fetch_wait` says, set on the consumer if it changed."""
    before = fetch_wait.current_ms
    after = fetch_wait.after_poll(got_records, now)
    if after != before:
        set_fetch_wait(consumer, after)


def set_fetch_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> None:
    """Make the consumer's next fetch requests ask the broker to hold them at most `wait_ms`.

    aiokafka has no public way to change `fetch_max_wait_ms` after start; its fetcher (0.14,
    pinned) reads the private `_fetch_max_wait_ms` each time it builds a request. A unit test
    fails if that attribute or its use disappears in another version. Before `start` (no
    fetcher yet) this does nothing.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None:
        return
    if not hasattr(fetcher, "_fetch_max_wait_ms"):
        raise RuntimeError("aiokafka's fetcher no longer has _fetch_max_wait_ms: see set_fetch_wait")
    fetcher._fetch_max_wait_ms = wait_ms


async def ensure_topics(settings: PlatformSettings, topics: list[str], *, attempts: int = 30) -> None:
    """Create the topics with the configured partition count; existing ones are left alone.

    Retries while the broker is still starting, so services may start before it.
    """
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [NewTopic(t, settings.topic_partitions, settings.topic_replication) for t in missing]
                    )
                except TopicAlreadyExistsError:
                    pass
                log.info("created topics", extra={"topics": missing})
            return
        except (KafkaError, OSError) as exc:
            if attempt == attempts:
                raise
            log.warning("broker not ready, retrying", extra={"error": repr(exc), "attempt": attempt})
            await asyncio.sleep(min(0.2 * attempt, 2.0))
        finally:
            await admin.close()
