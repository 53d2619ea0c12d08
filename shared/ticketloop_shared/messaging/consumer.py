"""The idempotent event consumer every service runs: one consumer group per service, inbox
dedup in the handler's transaction, capped retries with backoff, then the dead-letter topic."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketloop_shared.errors import PermanentEventError
from ticketloop_shared.events.catalog import AnyEvent, parse_event
from ticketloop_shared.events.topics import Topics
from ticketloop_shared.messaging.inbox import claim
from ticketloop_shared.messaging.kafka import make_consumer
from ticketloop_shared.metrics import EVENTS_CONSUMED, HANDLER_RETRIES
from ticketloop_shared.settings import PlatformSettings

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any], Awaitable[None]]

MAX_ERROR_HEADER = 4000


class EventConsumer:
    """Consumes the topics its handlers need and applies each event exactly once in effect."""

    def __init__(
        self,
        *,
        service: str,
        settings: PlatformSettings,
        handlers: Mapping[str, Handler],
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Table,
        producer: AIOKafkaProducer,
        group_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.handlers = dict(handlers)
        self.session_factory = session_factory
        self.inbox = inbox
        self.producer = producer
        self.topics = Topics(settings.topic_prefix)
        self.group_id = group_id or f"{settings.topic_prefix}.{service}"
        self.client_id = client_id or f"{service}-consumer"
        subscribed = sorted({self.topics.for_type(t) for t in self.handlers})
        self.subscribed_topics = subscribed
        self._consumer: AIOKafkaConsumer | None = None
        self.handled = 0
        self.started = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        """Partitions this member currently owns."""
        return set(self._consumer.assignment()) if self._consumer else set()

    async def run(self) -> None:
        """Consume until cancelled; if the connection breaks, reconnect with backoff."""
        delay = self.settings.consumer_backoff_seconds
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.started.clear()
                log.exception("consumer failed; reconnecting", extra={"group": self.group_id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)

    async def _consume(self) -> None:
        """One consumer session; the offset of a message is committed only after its effect."""
        consumer = make_consumer(
            self.settings, *self.subscribed_topics, group_id=self.group_id, client_id=self.client_id
        )
        self._consumer = consumer
        await consumer.start()
        self.started.set()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        await self.process(record)
                    try:
                        await consumer.commit({tp: records[-1].offset + 1})
                    except (CommitFailedError, KafkaError) as exc:
                        # Lost the partition in a rebalance: the new owner re-reads these
                        # records and the inbox turns them into no-ops.
                        log.warning("offset commit failed", extra={"error": repr(exc), "partition": str(tp)})
        finally:
            await consumer.stop()

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Handle one record: decode, dedupe, apply with retries, or dead-letter it."""
        try:
            raw = json.loads(record.value or b"")
            event_type = raw["type"]
        except (ValueError, TypeError, KeyError) as exc:
            await self.deadletter(record, f"undecodable message: {exc!r}", event_type="unknown")
            return
        handler = self.handlers.get(event_type)
        if handler is None:
            EVENTS_CONSUMED.labels(self.service, event_type, "ignored").inc()
            return
        try:
            event = parse_event(raw)
        except ValidationError as exc:
            await self.deadletter(record, f"invalid {event_type}: {exc}", event_type=event_type)
            return

        attempts = self.settings.consumer_max_attempts
        delay = self.settings.consumer_backoff_seconds
        for attempt in range(1, attempts + 1):
            try:
                outcome = await self._apply(handler, event)
            except PermanentEventError as exc:
                await self.deadletter(record, f"rejected: {exc}", event_type=event_type)
                return
            except Exception as exc:
                if attempt == attempts:
                    log.exception("handler failed, giving up", extra={"event_id": str(event.id)})
                    await self.deadletter(record, f"failed after {attempts} attempts: {exc!r}", event_type=event_type)
                    return
                HANDLER_RETRIES.labels(self.service, event_type).inc()
                log.warning(
                    "handler failed, retrying",
                    extra={"event_id": str(event.id), "attempt": attempt, "error": repr(exc)},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)
                continue
            EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc()
            return

    async def _apply(self, handler: Handler, event: AnyEvent) -> str:
        async with self.session_factory() as session, session.begin():
            fresh = await claim(session, self.inbox, consumer=self.group_id, event_id=event.id, event_type=event.type)
            if not fresh:
                return "duplicate"
            await handler(session, event)
        self.handled += 1
        return "handled"

    async def deadletter(self, record: ConsumerRecord[bytes, bytes], error: str, *, event_type: str) -> None:
        """Park the original bytes with the error; retried until the broker takes it, because
        committing past a message that is neither handled nor parked would lose it."""
        headers = list(record.headers or ()) + [
            ("x-error", error[:MAX_ERROR_HEADER].encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer-group", self.group_id.encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        delay = self.settings.consumer_backoff_seconds
        while True:
            try:
                await self.producer.send_and_wait(
                    self.topics.deadletter, value=record.value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                log.warning("dead-letter publish failed, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.consumer_backoff_max_seconds)
        EVENTS_CONSUMED.labels(self.service, event_type, "deadlettered").inc()
        log.error(
            "message dead-lettered",
            extra={"topic": record.topic, "offset": record.offset, "error": error[:500]},
        )
