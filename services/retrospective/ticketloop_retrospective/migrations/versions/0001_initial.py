"""initial

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:45:48.408917
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "headers", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["seq"], unique=False, postgresql_where=sa.text("published_at IS NULL")
    )
    op.create_table(
        "ticket_facts",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("department_id", sa.String(length=100), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_sla", sa.String(length=10), nullable=True),
        sa.Column("first_response_sla_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_sla", sa.String(length=10), nullable=True),
        sa.Column("resolution_sla_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "first_response_sla IN ('met', 'breached')", name=op.f("ck_ticket_facts_first_response_sla")
        ),
        sa.CheckConstraint("resolution_sla IN ('met', 'breached')", name=op.f("ck_ticket_facts_resolution_sla")),
        sa.CheckConstraint("csat BETWEEN 1 AND 5", name=op.f("ck_ticket_facts_csat")),
        sa.CheckConstraint("nps BETWEEN 0 AND 10", name=op.f("ck_ticket_facts_nps")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_facts")),
    )
    op.create_index("ix_ticket_facts_answered_at", "ticket_facts", ["answered_at"], unique=False)
    op.create_index("ix_ticket_facts_created_at", "ticket_facts", ["created_at"], unique=False)
    op.create_index("ix_ticket_facts_first_response_at", "ticket_facts", ["first_response_at"], unique=False)
    op.create_index("ix_ticket_facts_first_response_sla_at", "ticket_facts", ["first_response_sla_at"], unique=False)
    op.create_index("ix_ticket_facts_resolution_sla_at", "ticket_facts", ["resolution_sla_at"], unique=False)
    op.create_index("ix_ticket_facts_resolved_at", "ticket_facts", ["resolved_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ticket_facts_resolved_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_resolution_sla_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_first_response_sla_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_first_response_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_created_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_answered_at", table_name="ticket_facts")
    op.drop_table("ticket_facts")
    op.drop_index("ix_outbox_unpublished", table_name="outbox", postgresql_where=sa.text("published_at IS NULL"))
    op.drop_table("outbox")
    op.drop_table("inbox")
