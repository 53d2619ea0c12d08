"""All SQL about account managers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.customers.models import AccountManager, CustomerSegment


async def put(session: AsyncSession, *, customer_id: str, agent_id: str, at: datetime, by: str) -> AccountManager:
    """Set (or replace) a customer's account manager."""
    row = await session.scalar(
        insert(AccountManager)
        .values(customer_id=customer_id, agent_id=agent_id, set_at=at, set_by=by)
        .on_conflict_do_update(
            index_elements=[AccountManager.customer_id], set_={"agent_id": agent_id, "set_at": at, "set_by": by}
        )
        .returning(AccountManager)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def remove(session: AsyncSession, customer_id: str) -> str | None:
    """Clear a customer's account manager; the agent it was, if any."""
    return await session.scalar(
        delete(AccountManager).where(AccountManager.customer_id == customer_id).returning(AccountManager.agent_id)
    )


async def page(
    session: AsyncSession, *, limit: int, offset: int, agent_ids: Sequence[str] | None = None
) -> tuple[Sequence[AccountManager], int]:
    """Account managers by customer id (only those among `agent_ids`, when given), one page, and
    how many there are."""
    stmt = select(AccountManager)
    count = select(func.count()).select_from(AccountManager)
    if agent_ids is not None:
        stmt = stmt.where(AccountManager.agent_id.in_(list(agent_ids)))
        count = count.where(AccountManager.agent_id.in_(list(agent_ids)))
    rows = (await session.scalars(stmt.order_by(AccountManager.customer_id).limit(limit).offset(offset))).all()
    total = await session.scalar(count)
    return rows, int(total or 0)


async def set_segments(session: AsyncSession, rows: Sequence[Mapping[str, object]]) -> None:
    """Record customers' segments; a change older than the one stored is ignored (events about
    one customer may arrive out of order)."""
    base = insert(CustomerSegment)
    stmt = base.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={"segment": base.excluded.segment, "changed_at": base.excluded.changed_at},
        where=CustomerSegment.changed_at < base.excluded.changed_at,
    )
    await session.execute(stmt, [dict(row) for row in rows])


async def account_managers_for(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, str]:
    """The account manager of each of these customers that has one."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(AccountManager.customer_id, AccountManager.agent_id).where(AccountManager.customer_id.in_(ids))
    )
    return {row.customer_id: row.agent_id for row in rows}
