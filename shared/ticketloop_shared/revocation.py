"""The revoked-token list every service keeps in its own database, fed by `staff.token_revoked`.

Verification is synchronous and must not cost a round trip per request, so each process holds
the list in memory. A consumer group gives each event to one process only, so the table, not the
event, is what all processes share: the process storing a revocation sends a change notice in
the same transaction (`notices`), and every process of the service re-reads the list on it, so
a revocation takes effect everywhere within about a second of the event being consumed. Each
process also re-reads every `TICKETLOOP_REVOCATION_REFRESH_SECONDS` (the safety net, a minute).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, delete, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ticketloop_shared.auth import Principal
from ticketloop_shared.events.catalog import StaffTokenRevoked, TokenRevokedData
from ticketloop_shared.notices import notify
from ticketloop_shared.state import Slot
from ticketloop_shared.unit_of_work import Handler, UnitOfWork

log = logging.getLogger(__name__)

# The change notice a stored revocation sends, and what it sets in every process of the service.
NOTICE = "ticketloop_revocations"
CHANGED = Slot("revocations changed", asyncio.Event)


def revoked_tokens_table(metadata: MetaData) -> Table:
    """Revocations this service has learned of, kept until such tokens would have expired."""
    return Table(
        "revoked_tokens",
        metadata,
        Column("revocation_id", UUID(as_uuid=True), primary_key=True),
        Column("jti", String(64), nullable=True),
        Column("sub", String(100), nullable=True),
        Column("issued_before", DateTime(timezone=True), nullable=True),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Index("ix_revoked_tokens_expires_at", "expires_at"),
    )


class Revocations:
    """This process's copy of the revoked-token list."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._jtis: frozenset[str] = frozenset()
        self._subs: dict[str, int] = {}
        self.loaded = False

    def is_revoked(self, principal: Principal) -> bool:
        """Revoked by id, or issued (to the second) at or before its subject's revocation."""
        if principal.jti in self._jtis:
            return True
        before = self._subs.get(principal.sub)
        return before is not None and principal.iat <= before

    def load(self, rows: list[Any]) -> None:
        """Replace the list with the rows read from the table."""
        jtis = {row.jti for row in rows if row.jti}
        subs: dict[str, int] = {}
        for row in rows:
            if row.sub and row.issued_before is not None:
                subs[row.sub] = max(subs.get(row.sub, 0), int(row.issued_before.timestamp()))
        self._jtis, self._subs, self.loaded = frozenset(jtis), subs, True

    async def refresh(self, engine: AsyncEngine) -> None:
        """Re-read the live revocations and drop the ones whose tokens have all expired."""
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(delete(self.table).where(self.table.c.expires_at < now))
            rows = (
                await conn.execute(
                    select(self.table.c.jti, self.table.c.sub, self.table.c.issued_before).where(
                        self.table.c.expires_at >= now
                    )
                )
            ).all()
        self.load(list(rows))


def revocation_handler(table: Table) -> Handler:
    """The `staff.token_revoked` handler every service runs (a repeat is a no-op)."""

    async def on_token_revoked(uow: UnitOfWork[Any], event: StaffTokenRevoked) -> None:
        """Keep the revocation so this service refuses the token too."""
        await store_revocation(uow, table, event.data)

    return cast(Handler, on_token_revoked)


async def store_revocation(uow: UnitOfWork[Any], table: Table, data: TokenRevokedData) -> None:
    """Insert one revocation; the same revocation twice is kept once."""
    await uow.session.execute(
        insert(table)
        .values(
            revocation_id=data.revocation_id,
            jti=data.jti,
            sub=data.sub,
            issued_before=data.issued_before,
            expires_at=data.expires_at,
        )
        .on_conflict_do_nothing(index_elements=[table.c.revocation_id])
    )
    await notify(uow.session, NOTICE)
