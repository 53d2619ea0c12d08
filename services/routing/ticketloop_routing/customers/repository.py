"""All SQL about account managers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.customers.models import AccountManager, CustomerSegment


async def get(session: AsyncSession, customer_id: str, *, for_update: bool = False) -> AccountManager | None:
    """A customer's account manager, if any (locked until the transaction ends, `for_update`)."""
    stmt = select(AccountManager).where(AccountManager.customer_id == customer_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def create(session: AsyncSession, *, customer_id: str, agent_id: str, at: datetime, by: str) -> bool:
    """Set a customer's first account manager; False when one exists already (a race lost)."""
    created = await session.scalar(
        insert(AccountManager)
        .values(customer_id=customer_id, agent_id=agent_id, set_at=at, set_by=by, version=1)
        .on_conflict_do_nothing(index_elements=[AccountManager.customer_id])
        .returning(AccountManager.customer_id)
    )
    return created is not None


async def remove(session: AsyncSession, customer_id: str) -> None:
    """Clear a customer's account manager."""
    await session.execute(delete(AccountManager).where(AccountManager.customer_id == customer_id))


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
