"""retention: an index of the answers whose free texts are still kept, by answering time

Revision ID: 0011
Revises: 0008
Create Date: 2027-02-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_surveys_kept_texts",
        "surveys",
        ["answered_at"],
        unique=False,
        postgresql_where=sa.text("texts IS NOT NULL AND texts <> '\\x02'::bytea"),
    )


def downgrade() -> None:
    op.drop_index("ix_surveys_kept_texts", table_name="surveys")
