"""The documented bulk path: load many tickets' facts at once (a migration from another helpdesk,
or the review benchmark's million tickets) without replaying their events.

Rows are written with PostgreSQL's COPY into the same tables the event path fills, with the
meaning the event path gives each column (see `facts/models.py`): a loaded ticket counts in
every report exactly as one whose events were consumed. Call it with retrospective idle; run
`ANALYZE` afterwards so the planner knows the new volume.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

TICKET_COLUMNS = (
    "ticket_id",
    "number",
    "channel",
    "category",
    "urgency",
    "customer_id",
    "created_at",
    "assigned_at",
    "first_assigned_at",
    "agent_id",
    "department_id",
    "first_response_at",
    "resolved_at",
    "reopened_at",
    "closed_at",
    "need",
    "origin",
    "customer_annual_spend",
    "reply_ids",
    "reopen_times",
    "repeat_ids",
    "self_service",
    "segment",
    "csat",
    "nps",
    "answered_at",
)
CLOCK_COLUMNS = ("ticket_id", "clock", "cycle", "outcome", "at")
ANSWER_COLUMNS = (
    "survey_id",
    "ticket_id",
    "customer_id",
    "kind",
    "csat",
    "nps",
    "quality",
    "response_speed",
    "resolution",
    "care",
    "overall",
    "answered_at",
    "segment",
)
SEGMENT_COLUMNS = ("customer_id", "changed_at", "segment")
TABLES: dict[str, Sequence[str]] = {
    "ticket_facts": TICKET_COLUMNS,
    "clock_facts": CLOCK_COLUMNS,
    "answer_facts": ANSWER_COLUMNS,
    "segment_facts": SEGMENT_COLUMNS,
}


async def copy_rows(conn: asyncpg.Connection, table: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY `rows` (tuples in the order of the table's column list above) into `table`."""
    await conn.copy_records_to_table(table, records=rows, columns=list(TABLES[table]))
