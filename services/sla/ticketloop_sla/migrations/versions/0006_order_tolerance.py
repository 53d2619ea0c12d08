"""placements parked until their ticket is known; when the placement shown was decided

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 11:45:00
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
    op.add_column("tickets", sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "parked_placements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_placements")),
        sa.UniqueConstraint("event_id", name=op.f("uq_parked_placements_event_id")),
    )
    op.create_index(op.f("ix_parked_placements_ticket_id"), "parked_placements", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_parked_placements_ticket_id"), table_name="parked_placements")
    op.drop_table("parked_placements")
    op.drop_column("tickets", "placed_at")
