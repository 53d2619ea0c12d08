"""Run a request at most once per idempotency key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.idempotency.models import IdempotencyRecord
from ticketloop_intake.tickets.repository import Claim
from ticketloop_shared.errors import Conflict

REPLAYED_HEADER = "Idempotent-Replayed"


def fingerprint(method: str, path: str, body: BaseModel) -> str:
    """What identifies the request a key was first used for."""
    return hashlib.sha256(f"{method} {path} {body.model_dump_json()}".encode()).hexdigest()


def json_response(body: BaseModel, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised by pydantic-core in one step (no jsonable_encoder pass)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers)


async def run_once(
    session: AsyncSession,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    status_code: int,
    action: Callable[[], Awaitable[tuple[uuid.UUID, BaseModel]]],
    render: Callable[[uuid.UUID], Awaitable[BaseModel]],
    now: datetime,
    ttl: timedelta,
) -> Response:
    """Run `action` unless this key already ran; then answer with the resource it made, as it
    now stands (`render`), and the first status.

    The key row is inserted first in the same transaction: a concurrent retry blocks on it
    until the first request commits (then replays) or rolls back (then runs itself). A key
    older than `ttl` is forgotten and may be used again.
    """
    if key is None:
        return json_response((await action())[1], status_code)
    claimed = await session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if claimed.first() is None:
        record = await session.scalar(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .with_for_update()
        )
        if record is not None and record.created_at < now - ttl:
            record.request_hash, record.created_at, record.status_code, record.resource_id = (
                request_hash,
                now,
                None,
                None,
            )
            await session.flush()
        else:
            if record is None or record.resource_id is None or record.status_code is None:
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress", code="idempotency_in_progress"
                )
            if record.request_hash != request_hash:
                raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_key_reused")
            return json_response(await render(record.resource_id), record.status_code, {REPLAYED_HEADER: "true"})
    resource_id, body = await action()
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status_code, resource_id=resource_id)
    )
    return json_response(body, status_code)


async def replay(
    session: AsyncSession,
    statements: asyncpg.Pool,
    *,
    scope: str,
    key: str,
    request_hash: str,
    render: Callable[[uuid.UUID], Awaitable[BaseModel]],
    now: datetime,
    ttl: timedelta,
) -> Response | None:
    """The first response again, for a key whose record the one-statement write found taken;
    None when that record had expired: it is forgotten at once, in autocommit (the caller's next
    one-statement write must not wait on this request's own transaction), and the caller may
    use the key afresh."""
    record = await session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is None or record.created_at < now - ttl:
        await statements.execute(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at < $3", scope, key, now - ttl
        )
        return None
    if record.resource_id is None or record.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")
    if record.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_key_reused")
    return json_response(await render(record.resource_id), record.status_code, {REPLAYED_HEADER: "true"})


async def claim_key(session: AsyncSession, claim: Claim, *, resource_id: uuid.UUID, status_code: int) -> bool:
    """Record an Idempotency-Key inside the request's own transaction, already complete (the
    work it stands for commits with it); False when the key has a record (then replay)."""
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


async def purge_expired(session: AsyncSession, *, now: datetime, ttl: timedelta) -> int:
    """Forget keys older than `ttl`; returns how many."""
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - ttl))
    return int(getattr(result, "rowcount", 0) or 0)
