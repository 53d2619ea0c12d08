"""The consumer's and the timer's read of their tickets' current cycles goes through the primary
key however small `clocks` was when the connection first read it: a prepared statement's plan,
cached after five runs while the table was small, scanned the whole table ever after (on the
realistic mix, 6,000 rows filtered to read one ticket's six cycles)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ticketloop_shared.db import make_engine
from ticketloop_sla.clocks import repository

_TICKET = text(
    "INSERT INTO tickets (ticket_id, number, channel, category, urgency, customer_id, status, created_at,"
    " policy_id, rules_version) VALUES (:id, 'T1', 'web', 'billing', 'normal', 'cust-1', 'in_progress', :at,"
    " 'default', 1)"
)
_CLOCKS = text(
    "INSERT INTO clocks (ticket_id, kind, cycle, current, ticket_number, channel, policy_id, calendar_id, status,"
    " started_at, target_seconds)"
    " SELECT :id, k, 1, true, 'T1', 'web', 'default', '24x7', 'running', :at, 600"
    " FROM unnest(CAST(:kinds AS text[])) AS k"
)
_MANY = text(
    "INSERT INTO clocks (ticket_id, kind, cycle, current, ticket_number, channel, policy_id, calendar_id, status,"
    " started_at, target_seconds)"
    " SELECT gen_random_uuid(), 'plan', 1, true, 'T2', 'web', 'default', '24x7', 'running', :at, 600"
    " FROM generate_series(1, 30000)"
)
_SEQ_SCANS = text("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'clocks'")
KINDS = ["acknowledgement", "first_response", "plan", "resolution", "periodic_update"]


async def _seq_scans(conn: AsyncConnection) -> int:
    await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await conn.commit()
    scans = int((await conn.execute(_SEQ_SCANS)).scalar_one())
    await conn.commit()
    return scans


async def test_current_cycles_are_read_by_key_after_the_table_grew(
    new_database: Callable[[str], Awaitable[str]],
) -> None:
    engine = make_engine(await new_database("sla"), pool_size=1)
    ticket_id, at = uuid.uuid4(), datetime(2026, 11, 23, 9, tzinfo=UTC)
    try:
        async with engine.connect() as conn:
            await conn.execute(_TICKET, {"id": ticket_id, "at": at})
            await conn.execute(_CLOCKS, {"id": ticket_id, "at": at, "kinds": KINDS})
            await conn.commit()
            session = AsyncSession(bind=conn)
            for _ in range(8):  # past the server's five custom plans: a generic plan is cached now
                tickets = await repository.lock(session, [ticket_id])
                await conn.commit()
            assert len(tickets[ticket_id].clocks) == len(KINDS)
            await conn.execute(_MANY, {"at": at})
            await conn.commit()

            before = await _seq_scans(conn)
            for _ in range(5):
                tickets = await repository.lock(session, [ticket_id])
                await conn.commit()
            assert len(tickets[ticket_id].clocks) == len(KINDS)
            assert await _seq_scans(conn) == before
    finally:
        await engine.dispose()
