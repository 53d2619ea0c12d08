"""channel keys of their own (rotate with an overlap, revoke, last used), a version per channel
client, and counter numbers looked up by the client that owns them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-15 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["channel_clients.id"], name=op.f("fk_channel_keys_client_id_channel_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_channel_keys_key_hash")),
    )
    op.create_index("ix_channel_keys_client_id", "channel_keys", ["client_id"], unique=False)
    op.add_column("channel_clients", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.add_column(
        "channel_clients",
        sa.Column("keys_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_channel_clients_keys_changed_at", "channel_clients", ["keys_changed_at"], unique=False)
    # Every client's key so far becomes its one live key (the system client has none).
    op.execute(
        "INSERT INTO channel_keys (id, client_id, key_hash, created_at) "
        "SELECT gen_random_uuid(), id, key_hash, created_at FROM channel_clients WHERE key_hash NOT LIKE 'no-key:%'"
    )
    op.drop_constraint("uq_channel_clients_key_hash", "channel_clients", type_="unique")
    op.drop_column("channel_clients", "key_hash")
    op.create_index("ix_counter_entries_owner", "counter_entries", ["channel_client_id", "counter"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_counter_entries_owner", table_name="counter_entries")
    op.add_column("channel_clients", sa.Column("key_hash", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE channel_clients c SET key_hash = coalesce("
        "(SELECT k.key_hash FROM channel_keys k WHERE k.client_id = c.id AND k.revoked_at IS NULL "
        "ORDER BY k.created_at DESC LIMIT 1), 'no-key:' || c.name)"
    )
    op.alter_column("channel_clients", "key_hash", nullable=False)
    op.create_unique_constraint("uq_channel_clients_key_hash", "channel_clients", ["key_hash"])
    op.drop_index("ix_channel_clients_keys_changed_at", table_name="channel_clients")
    op.drop_column("channel_clients", "keys_changed_at")
    op.drop_column("channel_clients", "version")
    op.drop_table("channel_keys")
