"""Dead letters: events that can never be handled as they are (undecodable, invalid, rejected
by a rule, or failing on a healthy database after capped retries).

Each is parked in the service's own database with its error, in the transaction that moves the
consumer past it, so it survives a broker loss; a copy also goes to the dead-letter topic for
anyone watching. `ticketloop dlq list|show|replay` (or `python -m ticketloop_<service> dlq …`)
lists them and, once the cause is fixed, puts them back byte for byte on their original topic:
every consumer group sees them again, the inbox makes them no-ops where they were handled, and
the group that parked them now applies them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

MAX_ERROR = 4000


def dead_letter_table(metadata: MetaData) -> Table:
    """The parked events of one service, added to its metadata (and its migrations)."""
    return Table(
        "dead_letters",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=True),
        Column("headers", JSONB, nullable=False),
        Column("event_id", PgUUID(as_uuid=True), nullable=True),
        Column("event_type", String(100), nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("replayed_at", DateTime(timezone=True), nullable=True),
        Index("ix_dead_letters_pending", "id", postgresql_where="replayed_at IS NULL"),
    )


@dataclass(frozen=True)
class Letter:
    """One message to park: where it came from and why it failed."""

    consumer: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    event_id: UUID | None
    event_type: str
    error: str
    attempts: int


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[k, base64.b64encode(v).decode()] for k, v in headers]


def _headers_bytes(stored: Any) -> list[tuple[str, bytes]]:
    return [(k, base64.b64decode(v)) for k, v in stored or []]


async def park(session: AsyncSession, table: Table, letters: Sequence[Letter]) -> None:
    """Keep the letters in the service's database, in the caller's transaction."""
    if not letters:
        return
    await session.execute(
        table.insert(),
        [
            {
                "consumer": x.consumer,
                "topic": x.topic,
                "partition": x.partition,
                "offset": x.offset,
                "key": x.key,
                "value": x.value,
                "headers": _headers_json(x.headers),
                "event_id": x.event_id,
                "event_type": x.event_type,
                "error": x.error[:MAX_ERROR],
                "attempts": x.attempts,
            }
            for x in letters
        ],
    )


@dataclass(frozen=True)
class Filters:
    """Which parked letters a command acts on."""

    event_type: str | None = None
    since: datetime | None = None
    include_replayed: bool = False
    ids: Sequence[int] = ()


def _where(table: Table, filters: Filters) -> list[Any]:
    clauses: list[Any] = []
    if not filters.include_replayed:
        clauses.append(table.c.replayed_at.is_(None))
    if filters.event_type:
        clauses.append(table.c.event_type == filters.event_type)
    if filters.since:
        clauses.append(table.c.failed_at >= filters.since)
    if filters.ids:
        clauses.append(table.c.id.in_(list(filters.ids)))
    return clauses


async def listing(engine: AsyncEngine, table: Table, filters: Filters, *, limit: int = 100) -> list[dict[str, Any]]:
    """Parked letters, oldest first, without their bodies."""
    cols = [c for c in table.c if c.name not in ("key", "value", "headers")]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(*cols).where(*_where(table, filters)).order_by(table.c.id).limit(limit))
        ).all()
    return [dict(r._mapping) for r in rows]


async def show(engine: AsyncEngine, table: Table, letter_id: int) -> dict[str, Any] | None:
    """One letter with its body (decoded as text where it is text) and headers."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.id == letter_id))).first()
    if row is None:
        return None
    item = dict(row._mapping)
    item["key"] = (item["key"] or b"").decode(errors="replace")
    item["value"] = (item["value"] or b"").decode(errors="replace")
    item["headers"] = {k: v.decode(errors="replace") for k, v in _headers_bytes(item["headers"])}
    return item


async def replay(
    engine: AsyncEngine,
    table: Table,
    producer: AIOKafkaProducer,
    filters: Filters,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Put matching letters back on their original topics, byte for byte; returns how many.

    Each is marked replayed only after the broker acknowledged it; if it fails again it is
    parked again, as a new letter with its new error.
    """
    async with engine.connect() as conn:
        ids = list((await conn.scalars(select(table.c.id).where(*_where(table, filters)).order_by(table.c.id))).all())
    done = 0
    for letter_id in ids:
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    select(table).where(table.c.id == letter_id, table.c.replayed_at.is_(None)).with_for_update()
                )
            ).first()
            if row is None:
                continue
            headers = [(k, v) for k, v in _headers_bytes(row.headers) if not k.startswith("x-")]
            headers.append(("x-replayed-from", str(letter_id).encode()))
            await producer.send_and_wait(row.topic, value=row.value, key=row.key, headers=headers)
            await conn.execute(update(table).where(table.c.id == letter_id).values(replayed_at=func.now()))
        done += 1
        if progress is not None:
            progress(done, len(ids))
    return done
