"""pseudonymous customer ids: the channel's own customer reference, sealed with the customer's
key, on each ticket and queue number (customer_id holds the pseudonym from now on; rows written
before are re-keyed by intake's `rekey-customers` job, which holds the key a migration has not)

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("customer_reference", sa.LargeBinary(), nullable=True))
    op.add_column("counter_entries", sa.Column("customer_reference", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("counter_entries", "customer_reference")
    op.drop_column("tickets", "customer_reference")
