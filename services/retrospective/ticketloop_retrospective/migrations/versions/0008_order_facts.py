"""order facts (order.recorded), customers' spend and growth signals from orders, care tasks
anchored on an order (once per order)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_facts",
        sa.Column("channel_client", sa.String(length=100), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel_client", "order_id", name=op.f("pk_order_facts")),
    )
    op.create_index("ix_order_facts_customer_ordered", "order_facts", ["customer_id", "ordered_at"], unique=False)
    op.create_index("ix_order_facts_ordered_at", "order_facts", ["ordered_at"], unique=False)
    op.add_column("customers", sa.Column("order_spend", sa.Double(), nullable=True))
    op.add_column("customers", sa.Column("recent_purchases", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("customers", sa.Column("spend_rising", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column("customers", sa.Column("order_stats_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("care_tasks", sa.Column("order_ref", sa.String(length=200), nullable=True))
    op.drop_index("uq_care_tasks_anticipation", table_name="care_tasks")
    op.create_index(
        "uq_care_tasks_anticipation",
        "care_tasks",
        ["customer_id", "rule"],
        unique=True,
        postgresql_where=sa.text("kind = 'anticipation' AND order_ref IS NULL"),
    )
    op.create_index(
        "uq_care_tasks_order",
        "care_tasks",
        ["rule", "order_ref"],
        unique=True,
        postgresql_where=sa.text("order_ref IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_care_tasks_order", table_name="care_tasks")
    op.drop_index("uq_care_tasks_anticipation", table_name="care_tasks")
    op.execute("DELETE FROM care_tasks WHERE order_ref IS NOT NULL")
    op.create_index(
        "uq_care_tasks_anticipation",
        "care_tasks",
        ["customer_id", "rule"],
        unique=True,
        postgresql_where=sa.text("kind = 'anticipation'"),
    )
    op.drop_column("care_tasks", "order_ref")
    op.drop_column("customers", "order_stats_at")
    op.drop_column("customers", "spend_rising")
    op.drop_column("customers", "recent_purchases")
    op.drop_column("customers", "order_spend")
    op.drop_index("ix_order_facts_ordered_at", table_name="order_facts")
    op.drop_index("ix_order_facts_customer_ordered", table_name="order_facts")
    op.drop_table("order_facts")
