"""All SQL about remembered requests (Idempotency-Keys), and the claim a one-statement write
takes along."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import asyncpg
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.idempotency.models import IdempotencyRecord


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key taken by the statement that does the work: the key's record is written
    with the ticket (one round trip), and a second use of the key fails the whole statement."""

    # The columns of the key's record, in the order of `values`.
    COLUMNS: ClassVar[tuple[str, ...]] = ("scope", "key", "request_hash", "status_code", "resource_id", "created_at")
    TABLE: ClassVar[str] = IdempotencyRecord.__tablename__

    scope: str
    key: str
    request_hash: str
    status_code: int
    created_at: datetime

    def values(self, resource_id: uuid.UUID) -> list[object]:
        """The key's record for the resource the statement writes."""
        return [self.scope, self.key, self.request_hash, self.status_code, resource_id, self.created_at]


class KeyTaken(Exception):
    """The Idempotency-Key already has a record: nothing was written; replay instead."""


async def take(session: AsyncSession, *, scope: str, key: str, request_hash: str, now: datetime) -> bool:
    """Insert the key's record, not yet complete; False when it has one already."""
    claimed = await session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    return claimed.first() is not None


async def get(session: AsyncSession, *, scope: str, key: str, for_update: bool = False) -> IdempotencyRecord | None:
    """The key's record; `for_update` waits for a concurrent first request to finish."""
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def complete(session: AsyncSession, *, scope: str, key: str, status_code: int, resource_id: uuid.UUID) -> None:
    """Note what the first request answered and which resource it made."""
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status_code, resource_id=resource_id)
    )


async def forget_expired_key(statements: asyncpg.Pool, *, scope: str, key: str, before: datetime) -> None:
    """Delete the key's record if it is older than `before`, in autocommit."""
    await statements.execute(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3", scope, key, before
    )


async def insert_complete(session: AsyncSession, claim: Claim, *, resource_id: uuid.UUID, status_code: int) -> bool:
    """Insert the claim's record already complete; False when the key has a record."""
    inserted = await session.execute(
        insert(IdempotencyRecord)
        .values(
            scope=claim.scope,
            key=claim.key,
            request_hash=claim.request_hash,
            status_code=status_code,
            resource_id=resource_id,
            created_at=claim.created_at,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    return inserted.first() is not None


async def purge_older_than(session: AsyncSession, cutoff: datetime) -> int:
    """Delete the records created before `cutoff`; how many."""
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
