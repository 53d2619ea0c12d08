"""current cycles read through a function that plans each call for its own ids

The consumer's and the timer's read of their tickets' current cycles (`clocks.repository.lock`)
ran as a prepared statement whose plan the server caches per connection after five runs. A plan
made while `clocks` was small is a sequential scan, and it is kept while the table grows: on the
realistic mix a read of one ticket's six cycles filtered 6,000 rows (9 ms, up to 31 ms). The
function plans each call with its ids and the table as it is now (`plan_cache_mode`), so the read
goes through the primary key whatever the table's size was when the connection first ran it.

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-20 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION current_cycles(ids uuid[]) RETURNS SETOF clocks
        LANGUAGE sql STABLE
        SET plan_cache_mode = force_custom_plan
        AS $$ SELECT * FROM clocks WHERE ticket_id = ANY(ids) AND current $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION current_cycles(uuid[])")
