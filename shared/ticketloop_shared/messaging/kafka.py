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
