"""personal data sealed per customer: customer keys, bytea columns, audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 05:00:00

Existing texts are kept as they were, marked unsealed (a leading 0x00 byte): they stay readable,
and erasing their customer overwrites them. New texts are sealed with the customer's key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PERSONAL = {"tickets": ("subject", "description", "customer_name", "customer_contact"), "timeline": ("body",)}


def upgrade() -> None:
    op.create_table(
        "customer_keys",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_keys")),
    )
    op.create_table(
        "customer_erasures",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_erasures")),
    )
    op.create_index("ix_customer_erasures_erased_at", "customer_erasures", ["erased_at"], unique=False)
    for table, columns in _PERSONAL.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                type_=sa.LargeBinary(),
                postgresql_using=f"'\\x00'::bytea || convert_to({column}, 'UTF8')",  # NULL stays NULL
            )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("customer_erasures")
    op.drop_table("customer_keys")
    # Sealed texts cannot be turned back into text without their keys: a downgrade drops them.
    for table, columns in _PERSONAL.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                type_=sa.Text(),
                postgresql_using=(
                    f"CASE WHEN get_byte({column}, 0) = 0 "
                    f"THEN convert_from(substring({column} from 2), 'UTF8') ELSE '' END"
                ),
            )
