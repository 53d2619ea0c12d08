"""orders: the orders commerce systems report (customer by pseudonym only)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel_client_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("customer_reference", sa.LargeBinary(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index("uq_orders_client_order", "orders", ["channel_client_id", "order_id"], unique=True)
    op.create_index("ix_orders_customer_ordered", "orders", ["customer_id", "ordered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_customer_ordered", table_name="orders")
    op.drop_index("uq_orders_client_order", table_name="orders")
    op.drop_table("orders")
