"""what customers write in surveys sealed per customer: customer keys, answers' texts apart

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-01 09:00:00

Each free text of an answer (comments, suggestions, the NPS reason) moves out of `answers`
(where its place is kept as null) into `texts`, as JSON marked unsealed (a leading 0x00 byte):
a migration has no master key, so the `seal-clear-texts` job seals them in place, with each
customer's new key, at the service's next start. Erasing a customer overwrites them either way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_keys",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_keys")),
    )
    op.add_column("surveys", sa.Column("texts", sa.LargeBinary(), nullable=True))
    op.execute(
        """
        UPDATE surveys s
        SET texts = '\\x00'::bytea || convert_to(t.texts::text, 'UTF8'), answers = s.answers || t.places
        FROM (
            SELECT id, jsonb_object_agg(key, value) AS texts, jsonb_object_agg(key, 'null'::jsonb) AS places
            FROM surveys, jsonb_each(answers)
            WHERE jsonb_typeof(answers) = 'object' AND jsonb_typeof(value) = 'string'
            GROUP BY id
        ) t
        WHERE s.id = t.id
        """
    )
    op.create_index(
        "ix_surveys_clear_texts",
        "surveys",
        ["id"],
        unique=False,
        postgresql_where=sa.text("get_byte(texts, 0) = 0"),
    )


def downgrade() -> None:
    # Sealed texts cannot be put back without their keys: a downgrade keeps the unsealed ones only.
    op.execute(
        """
        UPDATE surveys
        SET answers = answers || convert_from(substring(texts from 2), 'UTF8')::jsonb
        WHERE get_byte(texts, 0) = 0
        """
    )
    op.drop_index("ix_surveys_clear_texts", table_name="surveys", postgresql_where=sa.text("get_byte(texts, 0) = 0"))
    op.drop_column("surveys", "texts")
    op.drop_table("customer_keys")
