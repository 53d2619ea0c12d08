"""sla's clocks shown on the ticket (the latest `sla.clocks_changed`: clocks, version, policy),
intake's own computed deadlines dropped, and the live-session flag of a report

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 04:00:00

Tickets created before this revision show no deadlines until sla publishes their clocks again:
the dropped columns held intake's flat-target copy, which sla's policies and calendars replace.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = ("acknowledgement_due", "first_response_due", "resolution_due")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("live_session", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.alter_column("tickets", "live_session", server_default=None)
    op.add_column("tickets", sa.Column("sla_clocks", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("tickets", sa.Column("sla_version", sa.Integer(), nullable=True))
    op.add_column("tickets", sa.Column("sla_policy_id", sa.String(length=100), nullable=True))
    for column in _DUE:
        op.drop_column("tickets", column)


def downgrade() -> None:
    for column in _DUE:
        op.add_column("tickets", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    # The old columns were intake's flat copy: rebuilt with the SPEC default targets (settings may
    # have differed), the same for every ticket whatever sla now says.
    op.execute(
        "UPDATE tickets SET acknowledgement_due = created_at + interval '10 minutes', "
        "first_response_due = created_at + CASE WHEN channel = 'phone' THEN interval '3 minutes' "
        "ELSE interval '15 minutes' END, resolution_due = created_at + interval '120 minutes'"
    )
    for column in _DUE:
        op.alter_column("tickets", column, nullable=False)
    for column in ("sla_policy_id", "sla_version", "sla_clocks", "live_session"):
        op.drop_column("tickets", column)
