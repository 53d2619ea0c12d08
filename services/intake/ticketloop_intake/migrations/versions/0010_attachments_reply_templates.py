"""attachments (files on customer messages and replies, sealed with the customer's key) and
reply templates (canned replies)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["timeline.id"], name=op.f("fk_attachments_entry_id_timeline")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_attachments_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_customer_id"), "attachments", ["customer_id"], unique=False)
    op.create_index(op.f("ix_attachments_entry_id"), "attachments", ["entry_id"], unique=False)
    op.create_index(op.f("ix_attachments_ticket_id"), "attachments", ["ticket_id"], unique=False)
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_templates")),
    )
    op.create_index("uq_reply_templates_name", "reply_templates", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_reply_templates_name", table_name="reply_templates")
    op.drop_table("reply_templates")
    op.drop_index(op.f("ix_attachments_ticket_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_entry_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_customer_id"), table_name="attachments")
    op.drop_table("attachments")
