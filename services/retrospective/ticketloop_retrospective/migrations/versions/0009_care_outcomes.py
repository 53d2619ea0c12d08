"""care outcomes: how each care contact went, its attempt and the task it follows (a retry after
no answer, a follow-up); an anticipation rule's once-per-customer key leaves those out

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("care_completions", sa.Column("outcome", sa.String(length=20), nullable=True))
    op.add_column("care_tasks", sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.add_column("care_tasks", sa.Column("previous_task_id", sa.Uuid(), nullable=True))
    op.create_index("uq_care_tasks_previous", "care_tasks", ["previous_task_id"], unique=True)
    op.drop_index("uq_care_tasks_anticipation", table_name="care_tasks")
    op.create_index(
        "uq_care_tasks_anticipation",
        "care_tasks",
        ["customer_id", "rule"],
        unique=True,
        postgresql_where=sa.text("kind = 'anticipation' AND order_ref IS NULL AND previous_task_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_care_tasks_anticipation", table_name="care_tasks")
    op.execute("DELETE FROM care_tasks WHERE previous_task_id IS NOT NULL")
    op.create_index(
        "uq_care_tasks_anticipation",
        "care_tasks",
        ["customer_id", "rule"],
        unique=True,
        postgresql_where=sa.text("kind = 'anticipation' AND order_ref IS NULL"),
    )
    op.drop_index("uq_care_tasks_previous", table_name="care_tasks")
    op.drop_column("care_tasks", "previous_task_id")
    op.drop_column("care_tasks", "attempt")
    op.drop_column("care_completions", "outcome")
