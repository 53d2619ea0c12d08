"""review facts: more per ticket, every SLA cycle, every answer, segment history; rectification items

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add = lambda column: op.add_column("ticket_facts", column)  # noqa: E731
    add(sa.Column("need", sa.String(length=40), nullable=True))
    add(sa.Column("origin", sa.String(length=20), nullable=True))
    add(sa.Column("customer_annual_spend", sa.Float(), nullable=True))
    add(sa.Column("first_assigned_at", sa.DateTime(timezone=True), nullable=True))
    add(sa.Column("reply_ids", postgresql.ARRAY(sa.Uuid()), server_default=sa.text("'{}'"), nullable=False))
    add(
        sa.Column(
            "reopen_times", postgresql.ARRAY(sa.DateTime(timezone=True)), server_default=sa.text("'{}'"), nullable=False
        )
    )
    add(sa.Column("repeat_ids", postgresql.ARRAY(sa.Uuid()), server_default=sa.text("'{}'"), nullable=False))
    add(sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))
    add(sa.Column("self_service", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    add(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    add(sa.Column("segment", sa.String(length=20), nullable=True))
    op.execute("UPDATE ticket_facts SET first_assigned_at = assigned_at")
    # A ticket's facts by customer: segment changes re-label the customer's tickets.
    op.create_index("ix_ticket_facts_customer_created", "ticket_facts", ["customer_id", "created_at"], unique=False)
    op.drop_index("ix_ticket_facts_resolved_at", table_name="ticket_facts")
    op.create_index("ix_ticket_facts_resolved_created", "ticket_facts", ["resolved_at", "created_at"], unique=False)
    op.create_index(
        "ix_ticket_facts_unresolved_created",
        "ticket_facts",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index(
        "ix_ticket_facts_reopened_at",
        "ticket_facts",
        ["reopened_at"],
        unique=False,
        postgresql_where=sa.text("reopened_at IS NOT NULL"),
    )
    op.create_table(
        "clock_facts",
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.Column("clock", sa.String(length=30), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("department_id", sa.String(length=100), nullable=True),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.CheckConstraint("outcome IN ('met', 'breached')", name=op.f("ck_clock_facts_outcome")),
        sa.PrimaryKeyConstraint("ticket_id", "clock", "cycle", name=op.f("pk_clock_facts")),
    )
    op.create_index("ix_clock_facts_at", "clock_facts", ["at"], unique=False)
    op.create_table(
        "answer_facts",
        sa.Column("survey_id", sa.UUID(), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("quality", sa.SmallInteger(), nullable=True),
        sa.Column("response_speed", sa.SmallInteger(), nullable=True),
        sa.Column("resolution", sa.SmallInteger(), nullable=True),
        sa.Column("care", sa.SmallInteger(), nullable=True),
        sa.Column("overall", sa.SmallInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("survey_id", name=op.f("pk_answer_facts")),
    )
    op.create_index("ix_answer_facts_answered_at", "answer_facts", ["answered_at"], unique=False)
    op.create_table(
        "segment_facts",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "changed_at", name=op.f("pk_segment_facts")),
    )
    op.create_table(
        "rectification_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("pain_class", sa.String(length=20), nullable=False),
        sa.Column("streak_started", sa.String(length=10), nullable=True),
        sa.Column("last_hot_week", sa.String(length=10), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("threshold", sa.String(length=60), nullable=False),
        sa.Column("owner_department", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'in_progress', 'closed')", name=op.f("ck_rectification_items_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectification_items")),
        sa.UniqueConstraint("category", "streak_started", name="uq_rectification_items_streak"),
    )


def downgrade() -> None:
    op.drop_table("rectification_items")
    op.drop_table("segment_facts")
    op.drop_table("answer_facts")
    op.drop_table("clock_facts")
    op.drop_index("ix_ticket_facts_reopened_at", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_unresolved_created", table_name="ticket_facts")
    op.drop_index("ix_ticket_facts_resolved_created", table_name="ticket_facts")
    op.create_index("ix_ticket_facts_resolved_at", "ticket_facts", ["resolved_at"], unique=False)
    op.drop_index("ix_ticket_facts_customer_created", table_name="ticket_facts")
    for column in (
        "segment", "closed_at", "self_service", "reopened_at", "repeat_ids", "reopen_times",
        "reply_ids", "first_assigned_at", "customer_annual_spend", "origin", "need",
    ):  # fmt: skip
        op.drop_column("ticket_facts", column)
