"""survey links kept only as digests of their tokens

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01 09:00:00

The token of a survey link was stored in clear (`surveys.token`): anyone who could read the
database could open and answer every open survey. Links now live in `survey_links`, one row per
link handed out, holding the SHA-256 of its token (`ticketloop_shared.bearer`). Every survey that
went out keeps its link: the digest of its old token is copied over, so a link a customer already
has still opens the survey. A survey not sent yet had a token nobody was given; it is dropped
(its link is minted when a delivery system fetches it).

Downgrading cannot bring the tokens back (only digests are kept): each survey gets a fresh random
token, and the links already handed out stop working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("survey_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_links_survey_id_surveys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_survey_links")),
    )
    op.create_index(op.f("ix_survey_links_survey_id"), "survey_links", ["survey_id"], unique=False)
    # The same digest as `bearer_digest`: SHA-256 of the token's UTF-8 bytes, in lower-case hex.
    op.execute(
        """
        INSERT INTO survey_links (token_hash, survey_id, issued_at)
        SELECT encode(sha256(convert_to(token, 'UTF8')), 'hex'), id, sent_at
        FROM surveys WHERE sent_at IS NOT NULL
        """
    )
    op.drop_constraint("uq_surveys_token", "surveys", type_="unique")
    op.drop_column("surveys", "token")


def downgrade() -> None:
    op.add_column("surveys", sa.Column("token", sa.String(length=64), nullable=True))
    op.execute("UPDATE surveys SET token = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')")
    op.alter_column("surveys", "token", nullable=False)
    op.create_unique_constraint("uq_surveys_token", "surveys", ["token"])
    op.drop_index(op.f("ix_survey_links_survey_id"), table_name="survey_links")
    op.drop_table("survey_links")
