"""events parked until their ticket is known; the times of the last lifecycle move and recategorisation applied

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("assignments", sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("assignments", sa.Column("recategorised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "parked_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_parked_events_event_id")),
    )
    op.create_index(op.f("ix_parked_events_ticket_id"), "parked_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_parked_events_ticket_id"), table_name="parked_events")
    op.drop_table("parked_events")
    op.drop_column("assignments", "recategorised_at")
    op.drop_column("assignments", "lifecycle_at")
