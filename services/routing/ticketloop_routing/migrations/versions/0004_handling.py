"""routing handling: strategies, capacity, skills, supervisors; presence and round-robin turns;
queues, reasons and decision history; account managers; the organisation version

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "departments", sa.Column("strategy", sa.String(length=20), server_default="least_loaded", nullable=False)
    )
    op.add_column("departments", sa.Column("default_capacity", sa.Integer(), nullable=True))
    op.add_column("departments", sa.Column("supervisor", sa.String(length=100), nullable=True))
    op.add_column("agents", sa.Column("capacity", sa.Integer(), nullable=True))
    op.add_column(
        "agents",
        sa.Column("skills", postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False),
    )

    op.create_table(
        "organisation_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Uuid(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_version")),
    )
    op.execute(f"INSERT INTO organisation_version (id, version, changed_at) VALUES (1, '{uuid.uuid4()}', now())")

    op.execute("CREATE SEQUENCE agent_turns")
    op.alter_column("agent_load", "open_tickets", server_default="0")
    op.add_column("agent_load", sa.Column("presence", sa.String(length=10), server_default="available", nullable=False))
    op.add_column("agent_load", sa.Column("presence_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agent_load", sa.Column("last_turn", sa.BigInteger(), nullable=True))
    # Every configured agent gets its live-state row (available, as before this change).
    op.execute("INSERT INTO agent_load (agent_id, open_tickets) SELECT id, 0 FROM agents ON CONFLICT DO NOTHING")

    op.add_column("assignments", sa.Column("state", sa.String(length=10), server_default="assigned", nullable=False))
    op.add_column("assignments", sa.Column("decision", sa.String(length=12), nullable=True))
    op.add_column("assignments", sa.Column("channel", sa.String(length=40), nullable=True))
    op.add_column("assignments", sa.Column("urgency", sa.String(length=20), nullable=True))
    op.add_column("assignments", sa.Column("customer_id", sa.String(length=100), nullable=True))
    op.add_column("assignments", sa.Column("segment", sa.String(length=20), nullable=True))
    op.add_column(
        "assignments",
        sa.Column("required_skills", postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False),
    )
    op.add_column("assignments", sa.Column("score", sa.Float(), nullable=True))
    op.add_column("assignments", sa.Column("boost", sa.Float(), server_default="0", nullable=False))
    op.add_column("assignments", sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("assignments", sa.Column("queue_rank", sa.Float(), nullable=True))
    op.add_column("assignments", sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("assignments", sa.Column("revised_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("assignments", sa.Column("reason", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.execute("UPDATE assignments SET state = 'closed' WHERE closed_at IS NOT NULL")
    op.execute("UPDATE assignments SET decision = 'assigned' WHERE agent_id IS NOT NULL")
    op.create_index(
        "ix_assignments_queue",
        "assignments",
        ["department_id", "queue_rank"],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
    )

    op.create_table(
        "assignment_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(length=12), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("department_id", sa.String(length=100), nullable=True),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("reason", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_history")),
    )
    op.create_index(op.f("ix_assignment_history_ticket_id"), "assignment_history", ["ticket_id"], unique=False)

    op.create_table(
        "account_managers",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_account_managers")),
    )
    op.create_index(op.f("ix_account_managers_agent_id"), "account_managers", ["agent_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_account_managers_agent_id"), table_name="account_managers")
    op.drop_table("account_managers")
    op.drop_index(op.f("ix_assignment_history_ticket_id"), table_name="assignment_history")
    op.drop_table("assignment_history")
    op.drop_index("ix_assignments_queue", table_name="assignments", postgresql_where=sa.text("state = 'queued'"))
    # Waiting tickets had no owner before this revision: they would be dead letters again.
    for column in (
        "reason",
        "revised_at",
        "touched_at",
        "queue_rank",
        "queued_at",
        "boost",
        "score",
        "required_skills",
        "segment",
        "customer_id",
        "urgency",
        "channel",
        "decision",
        "state",
    ):
        op.drop_column("assignments", column)
    for column in ("last_turn", "presence_changed_at", "presence"):
        op.drop_column("agent_load", column)
    op.alter_column("agent_load", "open_tickets", server_default=None)
    op.execute("DROP SEQUENCE agent_turns")
    op.drop_table("organisation_version")
    for column in ("skills", "capacity"):
        op.drop_column("agents", column)
    for column in ("supervisor", "default_capacity", "strategy"):
        op.drop_column("departments", column)
