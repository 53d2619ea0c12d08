"""All SQL about customers' data keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.keys.models import CustomerKey


async def key_for(session: AsyncSession, customer_id: str, *, wrapped_if_new: bytes) -> bytes:
    """The customer's wrapped key, created from `wrapped_if_new` when they have none (a racing
    first answer's key is waited for, then read: each statement sees what committed before it)."""
    created = await session.scalar(
        insert(CustomerKey)
        .values(customer_id=customer_id, wrapped_key=wrapped_if_new)
        .on_conflict_do_nothing()
        .returning(CustomerKey.wrapped_key)
    )
    if created is not None:
        return bytes(created)
    existing = await session.scalar(select(CustomerKey.wrapped_key).where(CustomerKey.customer_id == customer_id))
    if existing is None:
        raise RuntimeError(f"the key of customer {customer_id!r} vanished while it was being created")
    return bytes(existing)


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
