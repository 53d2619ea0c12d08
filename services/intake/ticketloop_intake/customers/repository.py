"""All SQL about customers' keys and their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Row, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ticketloop_intake.customers.models import ERASURE, RETIREMENT, CustomerErasure, CustomerKey

# The key a customer has, creating it with `$2` if there is none: one round trip, in autocommit
# (a key may well exist before its first ticket commits). Under a concurrent first insert the
# SELECT (its snapshot taken before) can miss it: the caller retries.
_KEY_FOR = (
    "WITH ins AS (INSERT INTO customer_keys (customer_id, wrapped_key) VALUES ($1, $2) "
    "ON CONFLICT (customer_id) DO NOTHING RETURNING wrapped_key) "
    "SELECT wrapped_key FROM ins UNION ALL "
    "SELECT wrapped_key FROM customer_keys WHERE customer_id = $1 LIMIT 1"
)


async def key_for(statements: asyncpg.Pool, customer_id: str, *, wrapped_if_new: bytes) -> bytes | None:
    """The customer's wrapped key, created from `wrapped_if_new` when they have none."""
    result = await statements.fetchval(_KEY_FOR, customer_id, wrapped_if_new)
    return bytes(result) if result is not None else None


async def keys(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, bytes]:
    """The wrapped keys of these customers (an erased customer has none)."""
    rows = await session.execute(
        select(CustomerKey.customer_id, CustomerKey.wrapped_key).where(CustomerKey.customer_id.in_(customer_ids))
    )
    return {str(customer_id): bytes(wrapped) for customer_id, wrapped in rows.all()}


async def destroy_key(session: AsyncSession, customer_id: str) -> bool:
    """Delete the customer's key; False when there was none."""
    result = await session.execute(delete(CustomerKey).where(CustomerKey.customer_id == customer_id))
    return bool(getattr(result, "rowcount", 0))


async def record_erasure(session: AsyncSession, customer_id: str, at: datetime) -> None:
    """Note the erasure for the other processes' key caches."""
    stmt = insert(CustomerErasure).values(customer_id=customer_id, erased_at=at, kind=ERASURE)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CustomerErasure.customer_id], set_={"erased_at": at, "kind": ERASURE}
        )
    )


async def destroy_keys(session: AsyncSession, customer_ids: Sequence[str]) -> list[str]:
    """Delete these customers' keys; the customers who had one."""
    result = await session.scalars(
        delete(CustomerKey).where(CustomerKey.customer_id.in_(customer_ids)).returning(CustomerKey.customer_id)
    )
    return [str(c) for c in result.all()]


async def record_retirements(session: AsyncSession, customer_ids: Sequence[str], at: datetime) -> None:
    """Note keys destroyed by retention for the other processes' key caches (a customer already
    erased stays erased)."""
    if not customer_ids:
        return
    stmt = insert(CustomerErasure).values(
        [{"customer_id": c, "erased_at": at, "kind": RETIREMENT} for c in customer_ids]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CustomerErasure.customer_id],
            set_={"erased_at": at},
            where=CustomerErasure.kind == RETIREMENT,
        )
    )


async def erased_since(engine: AsyncEngine, since: datetime) -> list[tuple[str, datetime]]:
    """Customers erased since `since`, with when."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CustomerErasure.customer_id, CustomerErasure.erased_at).where(CustomerErasure.erased_at >= since)
        )
        return [(str(c), e) for c, e in rows.all()]


async def is_erased(session: AsyncSession, customer_id: str) -> bool:
    """Whether the customer's personal data was erased (nobody may contact them on our own)."""
    found = await session.scalar(
        select(CustomerErasure.customer_id).where(
            CustomerErasure.customer_id == customer_id, CustomerErasure.kind == ERASURE
        )
    )
    return found is not None


# --- re-keying rows written before pseudonyms ---------------------------------------------------
# These statements cross into other features' tables on purpose: re-keying is a one-time data
# migration that must move a customer's every row in one transaction, and a migration cannot do
# it (the pseudonym and the re-sealing need the master key, which never reaches the database).
# Named by table, not through the other features' models, so no feature imports another's.

_NOT_PSEUDONYM = r"customer_id !~ '^cus_[a-z2-7]{26}$'"


async def legacy_customers(session: AsyncSession, limit: int) -> list[str]:
    """Up to `limit` customer ids still stored as a channel's reference (rows from before pseudonyms)."""
    rows = await session.execute(
        text(
            f"SELECT customer_id FROM tickets WHERE customer_reference IS NULL AND {_NOT_PSEUDONYM} "
            f"UNION SELECT customer_id FROM counter_entries WHERE customer_reference IS NULL AND {_NOT_PSEUDONYM} "
            f"UNION SELECT customer_id FROM customer_keys WHERE {_NOT_PSEUDONYM} "
            f"UNION SELECT customer_id FROM customer_erasures WHERE {_NOT_PSEUDONYM} "
            "LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [str(r[0]) for r in rows.all()]


async def locked_keys(session: AsyncSession, customer_ids: Sequence[str]) -> dict[str, bytes]:
    """The wrapped keys of these customer ids, locked until the transaction ends."""
    rows = await session.execute(
        select(CustomerKey.customer_id, CustomerKey.wrapped_key)
        .where(CustomerKey.customer_id.in_(customer_ids))
        .with_for_update()
    )
    return {str(c): bytes(w) for c, w in rows.all()}


async def add_key(session: AsyncSession, customer_id: str, wrapped: bytes) -> bool:
    """Store a wrapped key unless the customer has one already (a ticket written meanwhile)."""
    stmt = insert(CustomerKey).values(customer_id=customer_id, wrapped_key=wrapped)
    result = await session.execute(stmt.on_conflict_do_nothing(index_elements=[CustomerKey.customer_id]))
    return bool(getattr(result, "rowcount", 0))


async def rows_of(session: AsyncSession, table: str, columns: Sequence[str], customer_id: str) -> list[Row[Any]]:
    """The customer's rows of `table` (its `id` first, then `columns`), locked."""
    return list(
        (
            await session.execute(
                text(f"SELECT id, {', '.join(columns)} FROM {table} WHERE customer_id = :c FOR UPDATE"),
                {"c": customer_id},
            )
        ).all()
    )


async def sealed_entries(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> list[Row[Any]]:
    """The sealed timeline entries of these tickets (id, body), locked."""
    if not ticket_ids:
        return []
    return list(
        (
            await session.execute(
                text("SELECT id, body FROM timeline WHERE ticket_id = ANY(:ids) AND get_byte(body, 0) = 1 FOR UPDATE"),
                {"ids": list(ticket_ids)},
            )
        ).all()
    )


async def update_row(session: AsyncSession, table: str, row_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Write `values` into one row of `table`."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    await session.execute(text(f"UPDATE {table} SET {assignments} WHERE id = :row_id"), {**values, "row_id": row_id})


async def retire_id(session: AsyncSession, old: str, new: str) -> None:
    """Move an erasure recorded under `old` to `new` (the later one kept) and drop `old`'s key."""
    await session.execute(
        text(
            "INSERT INTO customer_erasures (customer_id, erased_at) "
            "SELECT :new, erased_at FROM customer_erasures WHERE customer_id = :old "
            "ON CONFLICT (customer_id) DO UPDATE "
            "SET erased_at = GREATEST(customer_erasures.erased_at, EXCLUDED.erased_at)"
        ),
        {"old": old, "new": new},
    )
    await session.execute(delete(CustomerErasure).where(CustomerErasure.customer_id == old))
    await session.execute(delete(CustomerKey).where(CustomerKey.customer_id == old))
