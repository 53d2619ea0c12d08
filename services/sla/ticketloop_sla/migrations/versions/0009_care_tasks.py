"""care tasks: why each ticket exists, since a care contact runs no customer-response clocks

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
    op.add_column("tickets", sa.Column("origin", sa.String(length=20), server_default="customer", nullable=False))


def downgrade() -> None:
    op.drop_column("tickets", "origin")
