"""knowledge base (articles with a generated full-text column and its GIN index) and counter
queues (counters, their numbered entries)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in knowledge/models.py (a migration never imports the models it may outlive).
_SEARCH = (
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, keywords), 'B') || "
    "setweight(to_tsvector('english'::regconfig, body), 'C')"
)


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("keywords", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search", postgresql.TSVECTOR(), sa.Computed(_SEARCH, persisted=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    op.create_index("ix_kb_articles_search", "kb_articles", ["search"], unique=False, postgresql_using="gin")
    op.create_index("ix_kb_articles_updated", "kb_articles", ["updated_at"], unique=False)
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=4), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "counter_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("counter", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("customer_name", sa.LargeBinary(), nullable=True),
        sa.Column("channel_client_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_exceeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("ticket_number", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_client_id"],
            ["channel_clients.id"],
            name=op.f("fk_counter_entries_channel_client_id_channel_clients"),
        ),
        sa.ForeignKeyConstraint(["counter"], ["counters.name"], name=op.f("fk_counter_entries_counter_counters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_entries")),
        sa.UniqueConstraint("counter", "day", "seq", name="uq_counter_entries_number"),
    )
    op.create_index(
        "ix_counter_entries_queue",
        "counter_entries",
        ["counter", "joined_at"],
        unique=False,
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index(
        "ix_counter_entries_served",
        "counter_entries",
        ["counter", "served_at"],
        unique=False,
        postgresql_where=sa.text("status = 'served'"),
    )
    op.create_index(
        "ix_counter_entries_unannounced",
        "counter_entries",
        ["joined_at"],
        unique=False,
        postgresql_where=sa.text("status = 'waiting' AND wait_exceeded_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("counter_entries")
    op.drop_table("counters")
    op.drop_table("kb_articles")
