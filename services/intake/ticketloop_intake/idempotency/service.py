"""Run a request at most once per idempotency key."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.idempotency.models import IdempotencyRecord
from ticketloop_shared.errors import Conflict

REPLAYED_HEADER = "Idempotent-Replayed"


def fingerprint(method: str, path: str, body: BaseModel) -> str:
    """What identifies the request a key was first used for."""
    return hashlib.sha256(f"{method} {path} {body.model_dump_json()}".encode()).hexdigest()


async def run_once(
    session: AsyncSession,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    status_code: int,
    action: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    """Run `action` unless this key already ran; then replay its stored response.

    The key row is inserted first in the same transaction: a concurrent retry blocks on it
    until the first request commits (then replays) or rolls back (then runs itself).
    """
    if key is None:
        return JSONResponse(jsonable_encoder(await action()), status_code=status_code)
    claimed = await session.execute(
        insert(IdempotencyRecord)
        .values(scope=scope, key=key, request_hash=request_hash)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if claimed.first() is None:
        record = await session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        if record is None or record.response is None or record.status_code is None:
            raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")
        if record.request_hash != request_hash:
            raise Conflict(
                "this Idempotency-Key was used for a different request",
                code="idempotency_key_reused",
            )
        return JSONResponse(record.response, status_code=record.status_code, headers={REPLAYED_HEADER: "true"})
    body: Any = jsonable_encoder(await action())
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=body)
    )
    return JSONResponse(body, status_code=status_code)
