"""work lists and search: each ticket's priority score and next due instant (with the indexes
that order work lists by them), routing's reason on timeline entries, and the keyed token index
of ticket words

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BY_PRIORITY = [sa.text("priority_score DESC NULLS LAST"), "next_due_at", "created_at", "id"]
_BY_DUE = ["next_due_at", sa.text("priority_score DESC NULLS LAST"), "created_at", "id"]


def upgrade() -> None:
    op.add_column("tickets", sa.Column("priority_score", sa.Float(), nullable=True))
    op.add_column("tickets", sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("next_due_clock", sa.String(length=40), nullable=True))
    op.add_column("timeline", sa.Column("reason", postgresql.JSONB(), nullable=True))
    # The clocks already stored tell each ticket's next due instant: the earliest due instant of
    # a clock still owed (running, or breached and not yet stopped). Scores are routing's: they
    # arrive with its next event about the ticket.
    op.execute(
        "UPDATE tickets t SET next_due_at = d.due_at, next_due_clock = d.clock FROM ("
        "SELECT DISTINCT ON (t.id) t.id, CAST(c->>'due_at' AS timestamptz) AS due_at, c->>'clock' AS clock "
        "FROM tickets t, jsonb_array_elements(t.sla_clocks) AS c "
        "WHERE t.sla_clocks IS NOT NULL AND c->>'status' IN ('running', 'breached') "
        "AND c->>'stopped_at' IS NULL AND c->>'due_at' IS NOT NULL "
        "ORDER BY t.id, CAST(c->>'due_at' AS timestamptz)) AS d WHERE d.id = t.id"
    )
    op.create_index("ix_tickets_department_priority", "tickets", ["department_id", *_BY_PRIORITY])
    op.create_index("ix_tickets_department_due", "tickets", ["department_id", *_BY_DUE])
    op.create_index("ix_tickets_assignee_priority", "tickets", ["assignee_id", *_BY_PRIORITY])
    op.create_index(
        "ix_tickets_queue_priority",
        "tickets",
        ["department_id", *_BY_PRIORITY],
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_table(
        "ticket_words",
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("token", "ticket_id", name=op.f("pk_ticket_words")),
    )
    op.create_index("ix_ticket_words_ticket", "ticket_words", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_words_ticket", table_name="ticket_words")
    op.drop_table("ticket_words")
    op.drop_index("ix_tickets_queue_priority", table_name="tickets", postgresql_where=sa.text("assignee_id IS NULL"))
    op.drop_index("ix_tickets_assignee_priority", table_name="tickets")
    op.drop_index("ix_tickets_department_due", table_name="tickets")
    op.drop_index("ix_tickets_department_priority", table_name="tickets")
    op.drop_column("timeline", "reason")
    op.drop_column("tickets", "next_due_clock")
    op.drop_column("tickets", "next_due_at")
    op.drop_column("tickets", "priority_score")
