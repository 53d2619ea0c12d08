"""proactive tickets: a ticket's origin (customer, recovery, care), what opened it and the
ticket a recovery is about; the system's own channel client that files them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Mirrors ticketloop_intake.channels.service.SYSTEM_CLIENT_*; its key hash matches no key (a
# SHA-256 is 64 hex digits), so nobody can call the API as the system.
SYSTEM_CLIENT_ID = "00000000-0000-7000-8000-000000000001"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("origin", sa.String(length=20), server_default="customer", nullable=False))
    op.alter_column("tickets", "origin", server_default=None)
    op.add_column("tickets", sa.Column("origin_id", sa.String(length=100), nullable=True))
    op.add_column("tickets", sa.Column("linked_ticket_id", sa.Uuid(), nullable=True))
    op.create_index(
        "uq_tickets_origin",
        "tickets",
        ["origin", "origin_id"],
        unique=True,
        postgresql_where=sa.text("origin_id IS NOT NULL"),
    )
    op.execute(
        "INSERT INTO channel_clients (id, name, channels, key_hash, active) "
        f"VALUES ('{SYSTEM_CLIENT_ID}', 'system', ARRAY['proactive'], 'no-key:system', false) "
        "ON CONFLICT (name) DO NOTHING"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM channel_clients WHERE id = '{SYSTEM_CLIENT_ID}'")
    op.drop_index("uq_tickets_origin", table_name="tickets", postgresql_where=sa.text("origin_id IS NOT NULL"))
    op.drop_column("tickets", "linked_ticket_id")
    op.drop_column("tickets", "origin_id")
    op.drop_column("tickets", "origin")
