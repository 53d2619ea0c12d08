"""goal baselines: the baseline period an admin sets per headline goal

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goal_baselines",
        sa.Column("goal", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("goal", name=op.f("pk_goal_baselines")),
    )


def downgrade() -> None:
    op.drop_table("goal_baselines")
