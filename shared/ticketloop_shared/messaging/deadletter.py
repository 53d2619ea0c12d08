"""Replaying dead letters once the cause is fixed: each parked message goes back, byte for
byte, to the topic it came from. Every consumer group sees it again, and the inbox makes it a
no-op for the groups that had handled it; the group that failed now applies it.

`python -m ticketloop_shared.messaging.deadletter --group ticketloop.routing` replays what
that group parked (all groups without `--group`), with the platform settings from the
environment.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from ticketloop_shared.events.topics import Topics
from ticketloop_shared.messaging.kafka import make_producer
from ticketloop_shared.settings import PlatformSettings

REPLAY_GROUP_SUFFIX = "deadletter-replay"


@dataclass
class ReplayResult:
    """What a replay did."""

    replayed: int = 0
    skipped: int = 0


async def replay(settings: PlatformSettings, *, group: str | None = None, idle_seconds: float = 2.0) -> ReplayResult:
    """Republish parked messages (of `group`, or all) to their original topics.

    The replayer commits its own offsets in the dead-letter topic, so a message is replayed
    once per replay group; if it fails again it is parked again, with its new error.
    """
    topics = Topics(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        topics.deadletter,
        bootstrap_servers=settings.kafka_bootstrap,
        # One replay position per target group, so replaying one group's letters never uses up another's.
        group_id=f"{settings.topic_prefix}.{REPLAY_GROUP_SUFFIX}.{group or 'all'}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    producer = make_producer(settings, client_id="deadletter-replay")
    result = ReplayResult()
    await consumer.start()
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        idle_since = loop.time()
        while loop.time() - idle_since < idle_seconds:
            batches = await consumer.getmany(timeout_ms=200)
            if batches:
                idle_since = loop.time()
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batches.items():
                for record in records:
                    headers = dict(record.headers or ())
                    parked_by = headers.get("x-consumer-group", b"").decode()
                    target = headers.get("x-original-topic", b"").decode()
                    if (group is not None and parked_by != group) or not target:
                        result.skipped += 1
                        continue
                    kept = [(k, v) for k, v in (record.headers or ()) if not k.startswith("x-")]
                    await producer.send_and_wait(target, value=record.value, key=record.key, headers=kept)
                    result.replayed += 1
                offsets[tp] = records[-1].offset + 1
            if offsets:
                await consumer.commit(offsets)
    finally:
        await producer.stop()
        await consumer.stop()
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line: replay and print how many messages went back."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", default=None, help="only messages parked by this consumer group")
    args = parser.parse_args(argv)
    result = asyncio.run(replay(PlatformSettings(), group=args.group))
    print(f"replayed {result.replayed}, skipped {result.skipped}")  # noqa: T201


if __name__ == "__main__":
    main()
