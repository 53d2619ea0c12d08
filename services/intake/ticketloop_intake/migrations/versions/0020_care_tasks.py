"""care tasks: a care ticket's due date and the outcome it was completed with

Revision ID: 0020
Revises: 0019
Create Date: 2027-01-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("care_outcome", sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "care_outcome")
    op.drop_column("tickets", "due_at")
