"""All SQL about knowledge-base articles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnClause, ColumnElement, TextClause, exists, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.knowledge.models import TS_CONFIG, Article

# What `ts_headline` returns: plain text (no markers: channels show it to customers as is).
_HEADLINE = 'StartSel="",StopSel="",MaxWords=30,MinWords=12,ShortWord=2,MaxFragments=2,FragmentDelimiter=" … "'
_CONFIG: ColumnClause[Any] = literal_column(f"'{TS_CONFIG}'::regconfig")


@dataclass(frozen=True)
class Match:
    """One matching active article with its rank and snippet."""

    id: uuid.UUID
    title: str
    category: str | None
    rank: float
    snippet: str
    language: str = "en"


def add(session: AsyncSession, article: Article) -> None:
    """Stage a new article."""
    session.add(article)


async def get(session: AsyncSession, article_id: uuid.UUID, *, for_update: bool = False) -> Article | None:
    """One article; `for_update` locks it so its version is checked and bumped by one writer."""
    stmt = select(Article).where(Article.id == article_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


def _query(q: str) -> ColumnElement[object]:
    return func.websearch_to_tsquery(_CONFIG, q)


async def page(
    session: AsyncSession,
    *,
    category: str | None,
    retired: bool | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Article], int]:
    """A page of articles, most recently changed first, and how many match the filters."""
    where: list[ColumnElement[bool]] = []
    if category is not None:
        where.append(Article.category == category)
    if retired is not None:
        where.append(Article.retired_at.is_not(None) if retired else Article.retired_at.is_(None))
    if q is not None:
        where.append(Article.search.op("@@")(_query(q)))
    total = await session.scalar(select(func.count()).select_from(Article).where(*where))
    rows = (
        await session.scalars(
            select(Article).where(*where).order_by(Article.updated_at.desc(), Article.id).limit(limit).offset(offset)
        )
    ).all()
    return rows, int(total or 0)


@cache
def _match_statement(with_category: bool, with_language: bool) -> TextClause:
    """Rank active matches on the GIN indexes (words, and CJK character bigrams), then build
    snippets for the few kept only. An article matched on bigrams alone (Chinese, Japanese,
    Korean: no word of the English parser matched) shows the start of its body."""
    category = "AND (a.category = :category OR a.category IS NULL)" if with_category else ""
    language = "AND (a.language = :language OR a.language LIKE :language_prefix)" if with_language else ""
    return text(
        f"""
        SELECT best.id, best.title, best.category, best.language, best.rank,
               CASE WHEN best.worded
                    THEN ts_headline('{TS_CONFIG}', best.body, best.query, '{_HEADLINE}')
                    ELSE left(best.body, :snippet_chars) END AS snippet
        FROM (
            SELECT a.id, a.title, a.category, a.language, a.body, a.updated_at, q.query,
                   a.search @@ q.query AS worded,
                   CASE WHEN a.search @@ q.query THEN ts_rank(a.search, q.query) ELSE 0 END
                   + CASE WHEN cardinality(g.grams) > 0
                          THEN (SELECT count(*) FROM unnest(a.grams) AS x(gram) WHERE x.gram = ANY(g.grams))::real
                               / cardinality(g.grams)
                          ELSE 0 END AS rank,
                   a.category IS NOT NULL AS specific
            FROM kb_articles AS a, websearch_to_tsquery('{TS_CONFIG}', :q) AS q(query),
                 (SELECT CAST(:grams AS text[])) AS g(grams)
            WHERE (a.search @@ q.query OR a.grams && g.grams) AND a.retired_at IS NULL {category} {language}
            ORDER BY rank DESC, specific DESC, a.updated_at DESC, a.id
            LIMIT :limit
        ) AS best
        ORDER BY best.rank DESC, best.specific DESC, best.updated_at DESC, best.id
        """
    )


# The snippet of an article matched on character bigrams only: its first characters.
_SNIPPET_CHARS = 120


async def matches(
    session: AsyncSession,
    *,
    q: str,
    grams: Sequence[str] = (),
    category: str | None,
    language: str | None = None,
    limit: int,
) -> list[Match]:
    """Active articles matching `q` (websearch syntax) or sharing a CJK bigram with `grams`, best
    first; with `category`, those of that category and the general ones (no category); with
    `language`, those in it ("zh" takes "zh-Hans" too). One statement."""
    params: dict[str, object] = {"q": q, "grams": list(grams), "limit": limit, "snippet_chars": _SNIPPET_CHARS}
    if category is not None:
        params["category"] = category
    if language is not None:
        params["language"], params["language_prefix"] = language, f"{language}-%"
    statement = _match_statement(category is not None, language is not None)
    rows = (await session.execute(statement, params)).all()
    return [
        Match(id=r.id, title=r.title, category=r.category, rank=float(r.rank), snippet=r.snippet, language=r.language)
        for r in rows
    ]


async def any_active(session: AsyncSession) -> bool:
    """Whether at least one article is not retired."""
    return bool(await session.scalar(select(exists().where(Article.retired_at.is_(None)))))


async def is_active(session: AsyncSession, article_id: uuid.UUID) -> bool:
    """Whether this article exists and is not retired."""
    return bool(await session.scalar(select(exists().where(Article.id == article_id, Article.retired_at.is_(None)))))
