"""answer customers: a customer's answers found by customer (a segment change re-labels them)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-18 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_answer_facts_customer_answered", "answer_facts", ["customer_id", "answered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_answer_facts_customer_answered", table_name="answer_facts")
