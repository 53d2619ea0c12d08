"""the department holding each ticket, so staff read only their own department's surveys

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 09:00:00

Filled from routing's `ticket.assigned`, `ticket.reassigned` and `ticket.queued` from now on;
a ticket placed before this revision is readable by admins only until routing places it again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_departments",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_departments")),
    )


def downgrade() -> None:
    op.drop_table("ticket_departments")
