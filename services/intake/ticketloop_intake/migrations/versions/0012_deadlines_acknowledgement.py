"""deadlines at acceptance and the acknowledgement: intake's copy of sla's policies and
calendars, and when a ticket was acknowledged (and how) and a person connected

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("sla_policy_copies", "sla_calendar_copies"):
        op.create_table(
            table,
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("rules_version", sa.BigInteger(), nullable=False),
            sa.Column("deleted", sa.Boolean(), nullable=False),
            sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
    op.add_column("tickets", sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("acknowledged_via", sa.String(length=20), nullable=True))
    op.add_column("tickets", sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "connected_at")
    op.drop_column("tickets", "acknowledged_via")
    op.drop_column("tickets", "acknowledged_at")
    op.drop_table("sla_calendar_copies")
    op.drop_table("sla_policy_copies")
