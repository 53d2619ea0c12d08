"""ORM model of knowledge-base articles."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Computed, DateTime, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from ticketloop_intake.db import Base
from ticketloop_shared.ids import new_id

# The text-search configuration of articles and of every query against them: `english` stems
# ("refunds", "refunded" → "refund") and drops stop words, so a ticket's free text matches an
# article on its meaningful words; `simple` would make "how do I" match everything.
TS_CONFIG = "english"
# Title weighs most, then keywords, then the body. Keywords are a JSONB list: `to_tsvector` over
# JSONB is immutable (over an array it is not), which a generated column requires.
SEARCH_EXPRESSION = (
    f"setweight(to_tsvector('{TS_CONFIG}'::regconfig, title), 'A') || "
    f"setweight(to_tsvector('{TS_CONFIG}'::regconfig, keywords), 'B') || "
    f"setweight(to_tsvector('{TS_CONFIG}'::regconfig, body), 'C')"
)


class Article(Base):
    """An answer to a frequent question, shown to customers by channels and suggested on new
    tickets; a retired one is never suggested but stays readable to staff."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        Index("ix_kb_articles_search", "search", postgresql_using="gin"),
        Index("ix_kb_articles_updated", "updated_at"),
        Index("ix_kb_articles_grams", "grams", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # A ticket `Category`, or None for an article that answers questions of any category.
    category: Mapped[str | None] = mapped_column(String(40))
    keywords: Mapped[list[str]] = mapped_column(JSONB)
    # The article's language, a BCP-47 tag ("en", "zh-Hans", "pt-BR").
    language: Mapped[str] = mapped_column(String(35), server_default="en")
    # Character bigrams of its Chinese, Japanese and Korean text (`domain.cjk_grams`): PostgreSQL's
    # text search has no parser for scripts written without spaces, so they are matched on these.
    grams: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # Written by PostgreSQL, read only by SQL (never loaded into Python).
    search: Mapped[str] = mapped_column(TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True), deferred=True)
    # Bumped on every change; the ETag that `If-Match` must name.
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(100))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(100))
