"""the SLA engine: tickets, clock cycles in business time, policies, calendars, segments

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "acknowledgement",
    "first_response",
    "live_access",
    "plan",
    "resolution",
    "periodic_update",
    "next_reply",
    "follow_up",
)
STATUSES = ("running", "paused", "met", "breached", "cancelled")


def _spec_targets(first_response: float) -> dict[str, Any]:
    minutes = {
        "acknowledgement": 10,
        "first_response": first_response,
        "live_access": 0.5,
        "plan": 120,
        "resolution": 1440,
        "periodic_update": 1440,
        "next_reply": first_response,
        "follow_up": 120,
    }
    return {k: {"minutes": m, "calendar": "24x7"} for k, m in minutes.items()}


_PAUSES = {"resolution": ["waiting_on_customer"], "plan": ["waiting_on_customer"]}
_ESCALATION = [
    {"level": 1, "share": 0.75, "notify": "assignee", "group": None},
    {"level": 2, "share": 1.0, "notify": "supervisor", "group": None},
    {"level": 3, "share": 1.5, "notify": "group", "group": "service-managers"},
]
_NO_CONDITIONS: dict[str, list[str]] = {"channels": [], "categories": [], "urgencies": [], "segments": []}
SEED_POLICIES = [
    {
        "id": "voice",
        "name": "Voice: answer a call within 3 minutes",
        "position": 10,
        "conditions": {**_NO_CONDITIONS, "channels": ["phone"]},
        "targets": _spec_targets(3),
    },
    {
        "id": "default",
        "name": "SPEC defaults",
        "position": 1000,
        "conditions": _NO_CONDITIONS,
        "targets": _spec_targets(15),
    },
]
SEED_CALENDAR = {
    "id": "business-hours",
    "name": "Monday to Friday, 09:00–18:00 UTC",
    "time_zone": "UTC",
    "week": [[[540, 1080]]] * 5 + [[], []],
}


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("live", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=100), nullable=True),
        sa.Column("committed_resolution_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("open", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_tickets")),
    )
    op.create_index(
        "ix_tickets_customer_open", "tickets", ["customer_id"], unique=False, postgresql_where=sa.text("open")
    )
    op.create_index(
        "ix_tickets_rules_version_open", "tickets", ["rules_version"], unique=False, postgresql_where=sa.text("open")
    )
    op.create_table(
        "customer_segments",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_segments")),
    )
    policies = op.create_table(
        "policies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("targets", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pauses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("warning_share", sa.Float(), nullable=False),
        sa.Column("escalation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
    )
    calendars = op.create_table(
        "calendars",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("week", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendars")),
    )
    op.create_table(
        "holidays",
        sa.Column("calendar_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name=op.f("fk_holidays_calendar_id_calendars"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("calendar_id", "day", name=op.f("pk_holidays")),
    )
    changes = op.create_table(
        "rule_changes",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_rule_changes")),
    )
    now = datetime.now(UTC)
    seeded = [
        {**p, "pauses": _PAUSES, "warning_share": 0.75, "escalation": _ESCALATION, "version": 1, "updated_at": now}
        for p in SEED_POLICIES
    ]
    op.bulk_insert(calendars, [{**SEED_CALENDAR, "version": 1, "updated_at": now}])
    op.bulk_insert(policies, seeded)
    op.bulk_insert(
        changes,
        [
            {
                "subject": "calendar",
                "subject_id": SEED_CALENDAR["id"],
                "version": 1,
                "action": "created",
                "snapshot": SEED_CALENDAR,
                "actor": "migration",
                "changed_at": now,
            }
        ]
        + [
            {
                "subject": "policy",
                "subject_id": p["id"],
                "version": 1,
                "action": "created",
                "snapshot": {k: v for k, v in p.items() if k != "updated_at"},
                "actor": "migration",
                "changed_at": now,
            }
            for p in seeded
        ],
    )

    # Clocks become cycles of every metric, counted in business time.
    op.drop_constraint(op.f("ck_clocks_kind"), "clocks", type_="check")
    op.drop_constraint(op.f("ck_clocks_status"), "clocks", type_="check")
    op.drop_index("ix_clocks_running_due", table_name="clocks")
    op.drop_constraint(op.f("pk_clocks"), "clocks", type_="primary")
    op.add_column("clocks", sa.Column("cycle", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.add_column("clocks", sa.Column("current", sa.Boolean(), server_default=sa.text("true"), nullable=False))
    op.add_column("clocks", sa.Column("policy_id", sa.String(length=64), server_default="default", nullable=False))
    op.add_column("clocks", sa.Column("calendar_id", sa.String(length=64), server_default="24x7", nullable=False))
    op.add_column("clocks", sa.Column("target_seconds", sa.Float(), nullable=True))
    op.add_column("clocks", sa.Column("used_seconds", sa.Float(), server_default=sa.text("0"), nullable=False))
    op.add_column("clocks", sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("clocks", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("clocks", sa.Column("paused_seconds", sa.Float(), server_default=sa.text("0"), nullable=False))
    op.add_column("clocks", sa.Column("warned", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column("clocks", sa.Column("escalation_level", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("clocks", sa.Column("next_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("clocks", sa.Column("margin_seconds", sa.Float(), nullable=True))
    op.alter_column("clocks", "due_at", nullable=True)
    # Existing clocks keep their deadlines: a running one counts on from its start in 24×7 time,
    # warned and escalated as if done (they were never announced before, and must not all fire now).
    op.execute(
        """
        UPDATE clocks SET
            target_seconds = EXTRACT(EPOCH FROM due_at - started_at),
            resumed_at = CASE WHEN status = 'running' THEN started_at END,
            next_at = CASE WHEN status = 'running' THEN due_at END,
            used_seconds = CASE WHEN stopped_at IS NOT NULL
                THEN EXTRACT(EPOCH FROM stopped_at - started_at) ELSE 0 END,
            warned = true,
            escalation_level = 1
        """
    )
    op.alter_column("clocks", "target_seconds", nullable=False)
    op.alter_column("clocks", "policy_id", server_default=None)
    op.alter_column("clocks", "calendar_id", server_default=None)
    op.execute(
        """
        INSERT INTO tickets (ticket_id, number, channel, category, urgency, customer_id, status, created_at,
                             policy_id, rules_version, open)
        SELECT ticket_id, min(ticket_number), min(channel), 'unknown', 'normal', 'unknown',
               CASE WHEN bool_and(status <> 'running') THEN 'resolved' ELSE 'in_progress' END,
               min(started_at), 'default', 0, bool_or(status = 'running')
        FROM clocks GROUP BY ticket_id
        """
    )
    op.create_primary_key(op.f("pk_clocks"), "clocks", ["ticket_id", "kind", "cycle"])
    op.create_check_constraint(op.f("ck_clocks_kind"), "clocks", _one_of("kind", KINDS))
    op.create_check_constraint(op.f("ck_clocks_status"), "clocks", _one_of("status", STATUSES))
    op.create_index(
        "ix_clocks_next_at", "clocks", ["next_at"], unique=False, postgresql_where=sa.text("next_at IS NOT NULL")
    )
    op.create_index(
        "ix_clocks_running_due", "clocks", ["due_at"], unique=False, postgresql_where=sa.text("status = 'running'")
    )


def downgrade() -> None:
    raise NotImplementedError("the SLA engine's cycles cannot be folded back into two clocks per ticket")
