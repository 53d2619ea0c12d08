"""Run a request at most once per idempotency key."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.idempotency import repository
from ticketloop_intake.idempotency.repository import Claim as Claim
from ticketloop_intake.idempotency.repository import KeyTaken as KeyTaken
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
    if not await repository.take(session, scope=scope, key=key, request_hash=request_hash, now=now):
        record = await repository.get(session, scope=scope, key=key, for_update=True)
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
    await repository.complete(session, scope=scope, key=key, status_code=status_code, resource_id=resource_id)
    return json_response(body, status_code)


async def replay(
    session: AsyncSession,
    statements: asyncpg.Pool,
    *,
    scope: str,
    key: str,
    request_hash: str,
    render: Callable[[uuid.UUID, int], Awaitable[BaseModel]],
    now: datetime,
    ttl: timedelta,
) -> Response | None:
    """The first response again, for a key whose record the one-statement write found taken
    (`render` gets the resource and the first status, which may say what the first answer was,
    e.g. a repeat contact); None when that record had expired: it is forgotten at once, in
    autocommit (the caller's next one-statement write must not wait on this request's own
    transaction), and the caller may use the key afresh."""
    record = await repository.get(session, scope=scope, key=key)
    if record is None or record.created_at < now - ttl:
        await repository.forget_expired_key(statements, scope=scope, key=key, before=now - ttl)
        return None
    if record.resource_id is None or record.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")
    if record.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_key_reused")
    return json_response(
        await render(record.resource_id, record.status_code), record.status_code, {REPLAYED_HEADER: "true"}
    )


async def claim_key(session: AsyncSession, claim: Claim, *, resource_id: uuid.UUID, status_code: int) -> bool:
    """Record an Idempotency-Key inside the request's own transaction, already complete (the
    work it stands for commits with it); False when the key has a record (then replay)."""
    return await repository.insert_complete(session, claim, resource_id=resource_id, status_code=status_code)


async def purge_expired(session: AsyncSession, *, now: datetime, ttl: timedelta) -> int:
    """Forget keys older than `ttl`; returns how many."""
    return await repository.purge_older_than(session, now - ttl)
