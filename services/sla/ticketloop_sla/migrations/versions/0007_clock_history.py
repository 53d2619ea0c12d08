"""each ticket's applied events, so clocks can be rebuilt in time order when one arrives late

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for tickets sla knew before this revision: they keep arrival order (no history kept).
    op.add_column("tickets", sa.Column("applied_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "applied_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_applied_events_event_id")),
    )
    op.create_index(op.f("ix_applied_events_ticket_id"), "applied_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_applied_events_ticket_id"), table_name="applied_events")
    op.drop_table("applied_events")
    op.drop_column("tickets", "applied_until")
