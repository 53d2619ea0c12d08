"""customers, segments and care

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:53:34.133772
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "care_completions",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_care_completions")),
    )
    op.create_table(
        "care_rules",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("anchor", sa.String(length=20), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("segments", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_care_rules")),
    )
    op.create_table(
        "care_schedules",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_care_schedules")),
    )
    op.create_index(
        "ix_care_schedules_next_due_at",
        "care_schedules",
        ["next_due_at"],
        unique=False,
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.create_table(
        "care_tasks",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("preferred_channel", sa.String(length=20), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_care_tasks")),
    )
    op.create_index("ix_care_tasks_customer_id", "care_tasks", ["customer_id", "due_at"], unique=False)
    op.create_index(
        "uq_care_tasks_anticipation",
        "care_tasks",
        ["customer_id", "rule"],
        unique=True,
        postgresql_where=sa.text("kind = 'anticipation'"),
    )
    op.create_index("uq_care_tasks_cadence", "care_tasks", ["customer_id", "rule", "due_at"], unique=True)
    op.create_table(
        "customer_answers",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", name=op.f("pk_customer_answers")),
    )
    op.create_index("ix_customer_answers_customer_id", "customer_answers", ["customer_id", "answered_at"], unique=False)
    op.create_table(
        "customer_objections",
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", name=op.f("pk_customer_objections")),
    )
    op.create_index("ix_customer_objections_customer_id", "customer_objections", ["customer_id"], unique=False)
    op.create_table(
        "customer_tickets",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("need", sa.String(length=40), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=True),
        sa.Column("origin_id", sa.String(length=100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_customer_tickets")),
    )
    op.create_index("ix_customer_tickets_customer_id", "customer_tickets", ["customer_id"], unique=False)
    op.create_index("ix_customer_tickets_origin", "customer_tickets", ["origin", "origin_id"], unique=False)
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_since", sa.Date(), nullable=True),
        sa.Column("annual_spend", sa.Double(), nullable=True),
        sa.Column("preferred_channel", sa.String(length=20), nullable=True),
        sa.Column("profile_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_interaction_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("segment", sa.String(length=32), nullable=True),
        sa.Column(
            "segment_reasons", postgresql.ARRAY(sa.String(length=64)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("segment_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_index(
        "ix_customers_annual_spend",
        "customers",
        ["annual_spend"],
        unique=False,
        postgresql_where=sa.text("annual_spend IS NOT NULL"),
    )
    op.create_index("ix_customers_customer_since", "customers", ["customer_since"], unique=False)
    op.create_index("ix_customers_first_seen_at", "customers", ["first_seen_at"], unique=False)
    op.create_index("ix_customers_segment", "customers", ["segment", "customer_id"], unique=False)
    op.create_index("ix_customers_swept_at", "customers", ["swept_at"], unique=False)
    op.create_table(
        "segment_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("previous_segment", sa.String(length=32), nullable=True),
        sa.Column("reasons", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_history")),
    )
    op.create_index("ix_segment_history_changed_at", "segment_history", ["changed_at"], unique=False)
    op.create_index("ix_segment_history_customer_id", "segment_history", ["customer_id", "changed_at"], unique=False)
    op.create_table(
        "spend_threshold",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("known", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_threshold")),
    )


def downgrade() -> None:
    op.drop_table("spend_threshold")
    op.drop_index("ix_segment_history_customer_id", table_name="segment_history")
    op.drop_index("ix_segment_history_changed_at", table_name="segment_history")
    op.drop_table("segment_history")
    op.drop_index("ix_customers_swept_at", table_name="customers")
    op.drop_index("ix_customers_segment", table_name="customers")
    op.drop_index("ix_customers_first_seen_at", table_name="customers")
    op.drop_index("ix_customers_customer_since", table_name="customers")
    op.drop_index(
        "ix_customers_annual_spend", table_name="customers", postgresql_where=sa.text("annual_spend IS NOT NULL")
    )
    op.drop_table("customers")
    op.drop_index("ix_customer_tickets_origin", table_name="customer_tickets")
    op.drop_index("ix_customer_tickets_customer_id", table_name="customer_tickets")
    op.drop_table("customer_tickets")
    op.drop_index("ix_customer_objections_customer_id", table_name="customer_objections")
    op.drop_table("customer_objections")
    op.drop_index("ix_customer_answers_customer_id", table_name="customer_answers")
    op.drop_table("customer_answers")
    op.drop_index("uq_care_tasks_cadence", table_name="care_tasks")
    op.drop_index(
        "uq_care_tasks_anticipation", table_name="care_tasks", postgresql_where=sa.text("kind = 'anticipation'")
    )
    op.drop_index("ix_care_tasks_customer_id", table_name="care_tasks")
    op.drop_table("care_tasks")
    op.drop_index(
        "ix_care_schedules_next_due_at",
        table_name="care_schedules",
        postgresql_where=sa.text("next_due_at IS NOT NULL"),
    )
    op.drop_table("care_schedules")
    op.drop_table("care_rules")
    op.drop_table("care_completions")
