"""escalations: each escalation step reached, for the supervisors' list

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "acknowledgement",
    "first_response",
    "live_access",
    "plan",
    "resolution",
    "periodic_update",
    "next_reply",
    "follow_up",
)
TARGETS = ("assignee", "supervisor", "group")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(length=64), nullable=False),
        sa.Column("notify", sa.String(length=20), nullable=False),
        sa.Column("group", sa.String(length=64), nullable=True),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_one_of("clock", KINDS), name=op.f("ck_escalations_clock")),
        sa.CheckConstraint(_one_of("notify", TARGETS), name=op.f("ck_escalations_notify")),
        sa.PrimaryKeyConstraint("ticket_id", "clock", "cycle", "level", name=op.f("pk_escalations")),
    )
    op.create_index("ix_escalations_escalated_at", "escalations", ["escalated_at"], unique=False)


def downgrade() -> None:
    op.drop_table("escalations")
