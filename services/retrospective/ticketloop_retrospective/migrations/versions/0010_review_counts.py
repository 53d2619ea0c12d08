"""review counts: the customer's expected resolution time per ticket, every SLA cycle's ticket origin

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-17 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ticket_facts", sa.Column("expected_resolution_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("clock_facts", sa.Column("origin", sa.String(length=20), nullable=True))
    # Tickets created before 0005 never had their origin kept: the ones the loop opened itself
    # (channel `proactive`) take what the customer read model knew, else the only proactive kind
    # of that time, recovery; the rest were reported by their customer.
    op.execute(
        """
        UPDATE ticket_facts f SET origin = COALESCE(
            (SELECT t.origin FROM customer_tickets t WHERE t.ticket_id = f.ticket_id),
            CASE WHEN f.channel = 'proactive' THEN 'recovery' ELSE 'customer' END)
        WHERE f.origin IS NULL AND f.created_at IS NOT NULL
        """
    )
    op.execute("UPDATE clock_facts c SET origin = f.origin FROM ticket_facts f WHERE f.ticket_id = c.ticket_id")


def downgrade() -> None:
    op.drop_column("clock_facts", "origin")
    op.drop_column("ticket_facts", "expected_resolution_at")
