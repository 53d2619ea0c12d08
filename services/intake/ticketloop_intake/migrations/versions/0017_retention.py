"""retention: indexes for the closed tickets whose texts are still kept and the webhook
deliveries that are over; why a customer's key was destroyed (erasure or retention)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-16 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_closed_texts",
        "tickets",
        ["closed_at"],
        unique=False,
        postgresql_where=sa.text("status = 'closed' AND subject <> '\\x02'::bytea"),
    )
    op.create_index(
        "ix_webhook_deliveries_finished",
        "webhook_deliveries",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'pending'"),
    )
    op.add_column(
        "customer_erasures",
        sa.Column("kind", sa.String(length=10), server_default="erasure", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("customer_erasures", "kind")
    op.drop_index("ix_webhook_deliveries_finished", table_name="webhook_deliveries")
    op.drop_index("ix_tickets_closed_texts", table_name="tickets")
