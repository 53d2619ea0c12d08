"""handling: the full lifecycle (plan, updates, waiting, follow-up, close, reopen), repeat contacts,
required skills

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTANTS = (
    "committed_resolution_at",
    "plan_committed_at",
    "last_update_at",
    "last_customer_message_at",
    "waiting_since",
    "followed_up_at",
    "closed_at",
    "reopened_at",
)


def upgrade() -> None:
    op.add_column(
        "tickets",
        sa.Column(
            "required_skills",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.alter_column("tickets", "required_skills", server_default=None)
    op.add_column("tickets", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    for column in _INSTANTS:
        op.add_column("tickets", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("self_service", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.alter_column("tickets", "self_service", server_default=None)
    op.add_column("tickets", sa.Column("resolved_by_article", sa.Uuid(), nullable=True))
    op.add_column("tickets", sa.Column("reopen_count", sa.Integer(), server_default="0", nullable=False))
    op.alter_column("tickets", "reopen_count", server_default=None)
    # Tickets closed before this revision closed when they were resolved.
    op.execute("UPDATE tickets SET closed_at = resolved_at WHERE status = 'closed'")
    op.create_index("ix_tickets_department_created", "tickets", ["department_id", "created_at"], unique=False)
    op.create_index("ix_tickets_repeat", "tickets", ["customer_id", "category", "fingerprint"], unique=False)
    op.create_index(
        "ix_tickets_resolved_open",
        "tickets",
        ["resolved_at"],
        unique=False,
        postgresql_where=sa.text("status = 'resolved'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_resolved_open", table_name="tickets")
    op.drop_index("ix_tickets_repeat", table_name="tickets")
    op.drop_index("ix_tickets_department_created", table_name="tickets")
    for column in ("reopen_count", "resolved_by_article", "self_service", *_INSTANTS, "fingerprint", "required_skills"):
        op.drop_column("tickets", column)
