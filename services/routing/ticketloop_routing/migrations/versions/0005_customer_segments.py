"""customers' segments as retrospective announces them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_segments",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_segments")),
    )


def downgrade() -> None:
    op.drop_table("customer_segments")
