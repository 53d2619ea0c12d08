"""survey delivery state, audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("surveys", sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    # Surveys created before links left the topic were delivered from it: not pending.
    op.execute("UPDATE surveys SET delivered_at = created_at")
    op.create_index(
        "ix_surveys_undelivered", "surveys", ["id"], unique=False, postgresql_where=sa.text("delivered_at IS NULL")
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_surveys_undelivered", table_name="surveys")
    op.drop_column("surveys", "delivered_at")
