"""repeat contacts and knowledge language: a ticket's keyed subject trigrams and numbers (similar wording),
the per-customer repeat lookup that serialises identical reports, a ticket version for staff
changes (`If-Match`), and a language and character n-grams per knowledge article

Revision ID: 0019
Revises: 0017
Create Date: 2027-01-12 09:00:00
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The customer's ticket for the same problem, looked up under a per-customer advisory lock taken
# by the very statement that then inserts the new ticket. VOLATILE and plpgsql on purpose: in
# READ COMMITTED each query in the function takes a fresh snapshot, so the lookup run after the
# lock sees a ticket a concurrent identical report committed while this one waited (a CTE in the
# inserting statement would not: its snapshot is taken before the lock). Similarity is pg_trgm's
# (shared trigrams over all trigrams), computed over keyed trigram hashes: the subject is sealed.
REPEAT_OF = """
CREATE FUNCTION ticket_repeat_of(
    p_customer text, p_category text, p_fingerprint text, p_grams integer[],
    p_open text[], p_since timestamptz, p_similarity double precision, p_numbers integer[]
) RETURNS uuid LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(1953066347, hashtext(p_customer));
    SELECT t.id INTO found
    FROM tickets AS t
    WHERE t.customer_id = p_customer AND t.category = p_category
      AND (t.status = ANY(p_open) OR t.resolved_at >= p_since)
      AND (t.fingerprint = p_fingerprint OR (
          t.subject_grams IS NOT NULL AND cardinality(p_grams) > 0 AND
          coalesce(t.subject_numbers, '{}') = p_numbers AND
          (SELECT count(*) FROM (SELECT unnest(t.subject_grams) INTERSECT SELECT unnest(p_grams)) AS s)::float8
          / (SELECT count(*) FROM (SELECT unnest(t.subject_grams) UNION SELECT unnest(p_grams)) AS u)
          >= p_similarity))
    ORDER BY (t.fingerprint = p_fingerprint) DESC, t.created_at DESC
    LIMIT 1;
    RETURN found;
END
$$
"""

# The knowledge base's CJK character bigrams as they were defined here (`knowledge/domain.py`
# `cjk_grams`), frozen with the migration: articles written before it are found at once.
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]+")


def _grams(*texts: str) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        for run in _CJK_RUN.findall(unicodedata.normalize("NFKC", text)):
            for gram in [run] if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)):
                seen.setdefault(gram, None)
    return list(seen)


def upgrade() -> None:
    op.add_column("tickets", sa.Column("subject_grams", postgresql.ARRAY(sa.Integer()), nullable=True))
    op.add_column("tickets", sa.Column("subject_numbers", postgresql.ARRAY(sa.Integer()), nullable=True))
    op.add_column("tickets", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.execute(REPEAT_OF)
    op.add_column("kb_articles", sa.Column("language", sa.String(length=35), server_default="en", nullable=False))
    op.add_column("kb_articles", sa.Column("grams", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False))
    op.create_index("ix_kb_articles_grams", "kb_articles", ["grams"], unique=False, postgresql_using="gin")
    bind = op.get_bind()
    articles = bind.execute(sa.text("SELECT id, title, body, keywords FROM kb_articles")).all()
    for article in articles:
        grams = _grams(article.title, *(article.keywords or []), article.body)
        if grams:
            bind.execute(
                sa.text("UPDATE kb_articles SET grams = CAST(:grams AS text[]) WHERE id = :id"),
                {"grams": grams, "id": article.id},
            )


def downgrade() -> None:
    op.drop_index("ix_kb_articles_grams", table_name="kb_articles")
    op.drop_column("kb_articles", "grams")
    op.drop_column("kb_articles", "language")
    op.execute(
        "DROP FUNCTION ticket_repeat_of(text, text, text, integer[], text[], timestamptz, double precision, integer[])"
    )
    op.drop_column("tickets", "subject_numbers")
    op.drop_column("tickets", "version")
    op.drop_column("tickets", "subject_grams")
