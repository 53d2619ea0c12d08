"""Rules about account managers: only an agent of the organisation can be one, and every change
is audited."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.customers import repository
from ticketloop_routing.customers.models import AccountManager
from ticketloop_routing.db import audit
from ticketloop_routing.organisation import service as organisation
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import PutPrecondition, etag
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import NotFound, PreconditionFailed, Unprocessable
from ticketloop_shared.events import CustomerSegmentChangedData


async def account_managers_for(session: AsyncSession, customer_ids: Iterable[str]) -> dict[str, str]:
    """The account manager of each of these customers that has one (routing prefers them for
    high-value customers)."""
    return await repository.account_managers_for(session, customer_ids)


async def page(
    session: AsyncSession, *, by: Principal, limit: int, offset: int
) -> tuple[Sequence[AccountManager], int]:
    """A page of account managers as `by` may see them: an admin every customer's, an agent or
    supervisor those whose account manager is an agent of its own department."""
    department = organisation.scoped(by, None, what="account managers")
    agent_ids = None if department is None else await organisation.member_ids(session, department)
    return await repository.page(session, limit=limit, offset=offset, agent_ids=agent_ids)


class AccountManagerChanged(PreconditionFailed):
    """The customer's account manager is not at the version the caller named (or exists when it
    meant to set a first one)."""

    code = "account_manager_changed"


def _check_version(customer_id: str, row: AccountManager | None, expected: int | None) -> None:
    current = None if row is None else row.version
    if current != expected:
        wanted = "none" if expected is None else f"version {expected}"
        raise AccountManagerChanged(
            f"customer {customer_id!r}'s account manager is at version {current}, not {wanted}; read it again",
            details={"version": current, "current_etag": etag(current)},
        )


async def get_manager(session: AsyncSession, customer_id: str) -> AccountManager:
    """The customer's account manager, or `account_manager_not_found`."""
    row = await repository.get(session, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id!r} has no account manager", code="account_manager_not_found")
    return row


async def set_manager(
    session: AsyncSession, *, customer_id: str, agent_id: str, expected: PutPrecondition, by: Principal, at: datetime
) -> tuple[AccountManager, bool]:
    """Make `agent_id` the customer's account manager, if it is an agent of the organisation: a
    first one (`If-None-Match: *`) or over the version read (`If-Match`); True when created."""
    if not await organisation.is_agent(session, agent_id):
        raise Unprocessable(
            f"{agent_id!r} is not an agent of the organisation", code="unknown_agent", details={"agent_id": agent_id}
        )
    row = await repository.get(session, customer_id, for_update=True)
    _check_version(customer_id, row, expected.version)
    created = row is None
    if row is None:
        if not await repository.create(session, customer_id=customer_id, agent_id=agent_id, at=at, by=by.sub):
            _check_version(customer_id, await repository.get(session, customer_id), None)  # set meanwhile
    else:
        row.agent_id, row.set_at, row.set_by = agent_id, at, by.sub
        row.version += 1
    await session.flush()
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="account_manager.set",
        subject=f"customer:{customer_id}",
        details={"agent_id": agent_id},
    )
    return await get_manager(session, customer_id), created


async def clear_manager(session: AsyncSession, *, customer_id: str, version: int, by: Principal) -> None:
    """Remove the customer's account manager at the version read (their tickets are routed by
    department rule again)."""
    row = await repository.get(session, customer_id, for_update=True)
    if row is None:
        raise NotFound(f"customer {customer_id!r} has no account manager", code="account_manager_not_found")
    _check_version(customer_id, row, version)
    agent_id = row.agent_id
    await repository.remove(session, customer_id)
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="account_manager.cleared",
        subject=f"customer:{customer_id}",
        details={"agent_id": agent_id},
    )


async def record_segments(session: AsyncSession, changes: Sequence[CustomerSegmentChangedData]) -> None:
    """Keep each customer's latest announced segment (the newest of a run per customer)."""
    latest: dict[str, CustomerSegmentChangedData] = {}
    for change in sorted(changes, key=lambda c: c.changed_at):
        latest[change.customer_id] = change
    await repository.set_segments(
        session,
        [{"customer_id": c, "segment": d.segment, "changed_at": d.changed_at} for c, d in sorted(latest.items())],
    )
