"""The rules of the knowledge base: admins write articles (versioned, audited), staff and
channels search them, and new tickets get up to three suggestions at the cost of one indexed
query at most, none while the base has no active article."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.db import audit
from ticketloop_intake.knowledge import domain, repository
from ticketloop_intake.knowledge.models import Article
from ticketloop_intake.knowledge.schemas import ArticleCreate, ArticleUpdate
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import Conflict, NotFound, PreconditionFailed
from ticketloop_shared.ids import new_id
from ticketloop_shared.state import Slot, state_of

# How long an answer of the guard is trusted when no refresh interval was given to it (the
# periodic refresh in `scheduled.py` passes the setting's).
DEFAULT_GUARD_SECONDS = 5.0


@dataclass(frozen=True)
class Suggestion:
    """An active article that may answer a ticket's question (`rank`: `ts_rank`, higher is better)."""

    article_id: uuid.UUID
    title: str
    snippet: str
    rank: float
    category: str | None = None
    language: str = "en"


class ActiveArticlesGuard:
    """Whether a database has any active article, remembered per process and per database, so
    that while the knowledge base is empty (the usual case) a ticket's suggestion lookup costs
    no round trip. Refreshed every `knowledge_guard_seconds` by a periodic job; an answer is
    trusted for three intervals (a stalled refresh falls back to asking inline). An article
    created in this process counts at once; one created in another is seen within an interval."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[bool, float, float]] = {}
        # Changes made in this process, per database: a refresh whose query began before one
        # must not overwrite what it says (it read the table as it was before).
        self._changes: dict[str, int] = {}

    @staticmethod
    def database(session: AsyncSession) -> str:
        """The key of the session's database."""
        return str(session.get_bind().engine.url)

    def answer(self, db: str) -> bool | None:
        """The remembered answer, or None when there is none fresh enough."""
        known = self._known.get(db)
        if known is None or time.monotonic() > known[1]:
            return None
        return known[0]

    def changes(self, db: str) -> int:
        """How many changes this process made to the database's articles (see `remember`)."""
        return self._changes.get(db, 0)

    def remember(
        self, db: str, any_active: bool, *, interval: float | None = None, read_after: int | None = None
    ) -> None:
        """Keep an answer for three refresh intervals; one read before a change this process
        made since (`read_after`: `changes` when the read began) is dropped."""
        if read_after is not None and read_after != self.changes(db):
            return
        interval = interval if interval is not None else self._interval(db)
        self._known[db] = (any_active, time.monotonic() + 3 * interval, interval)

    def changed(self, db: str, *, any_active: bool | None) -> None:
        """This process changed the articles: `True` (one was created) counts at once; `None`
        (one was retired) drops the answer, so the next lookup asks again."""
        self._changes[db] = self.changes(db) + 1
        if any_active is not None:
            self.remember(db, any_active)
        else:
            self.forget(db)

    def forget(self, db: str) -> None:
        """Drop the answer: the next lookup asks again."""
        known = self._known.pop(db, None)
        if known is not None:  # keep the interval the refresh set
            self._known[db] = (True, 0.0, known[2])

    def _interval(self, db: str) -> float:
        known = self._known.get(db)
        return known[2] if known is not None else DEFAULT_GUARD_SECONDS

    async def any_active(self, session: AsyncSession) -> bool:
        """The remembered answer, asking the database only when there is none."""
        db = self.database(session)
        known = self.answer(db)
        if known is None:
            began = self.changes(db)
            known = await repository.any_active(session)
            self.remember(db, known, read_after=began)
        return known


GUARD = Slot("knowledge guard", ActiveArticlesGuard)


def _guard(session: AsyncSession) -> ActiveArticlesGuard:
    return state_of(session)[GUARD]


def _changed(session: AsyncSession, *, any_active: bool | None) -> None:
    """Tell the guard at once, and again when the transaction commits: a refresh whose read
    began before the commit (so saw the table without this change) must not stand after it."""
    guard, db = _guard(session), ActiveArticlesGuard.database(session)
    guard.changed(db, any_active=any_active)
    event.listen(session.sync_session, "after_commit", lambda _: guard.changed(db, any_active=any_active), once=True)


async def refresh_guard(session: AsyncSession, *, interval: float) -> bool:
    """Ask the database whether any article is active and remember the answer."""
    guard, db = _guard(session), ActiveArticlesGuard.database(session)
    began = guard.changes(db)
    found = await repository.any_active(session)
    guard.remember(db, found, interval=interval, read_after=began)
    return found


async def suggest(
    session: AsyncSession, *, category: str, text: str, limit: int = domain.MAX_SUGGESTIONS
) -> list[Suggestion]:
    """Up to three active articles that may answer a ticket (`text`: its subject and
    description), best first: articles of the ticket's category and general ones (no
    category), matching any meaningful word of the text or any character pair of its Chinese,
    Japanese or Korean text, ranked by `ts_rank` plus the share of those pairs found.

    No query while the base has no active article (the per-process guard), else one statement
    on the GIN index. Never raises for odd text: text without words gives no suggestion.
    """
    limit = max(0, min(limit, domain.MAX_SUGGESTIONS))
    query = domain.suggestion_query(text)
    if limit == 0 or query is None or not await _guard(session).any_active(session):
        return []
    grams = domain.cjk_grams(text, limit=domain.MAX_QUERY_GRAMS)
    found = await repository.matches(session, q=query, grams=grams, category=category, limit=limit)
    return [_suggestion(m) for m in found]


def _suggestion(match: repository.Match) -> Suggestion:
    return Suggestion(
        article_id=match.id,
        title=match.title,
        snippet=match.snippet,
        rank=match.rank,
        category=match.category,
        language=match.language,
    )


async def search(
    session: AsyncSession, *, q: str, category: str | None, language: str | None = None, limit: int
) -> list[Suggestion]:
    """Active articles matching a search box's `q` (web-search syntax: words all match,
    `"a phrase"`, `or`, `-word`; any string is a valid query; Chinese, Japanese and Korean text
    by any character pair), best first; with `category`, those of that category and the general
    ones; with `language`, those written in it."""
    grams = domain.cjk_grams(q, limit=domain.MAX_QUERY_GRAMS)
    found = await repository.matches(session, q=q, grams=grams, category=category, language=language, limit=limit)
    return [_suggestion(m) for m in found]


async def article_exists_active(session: AsyncSession, article_id: uuid.UUID) -> bool:
    """Whether `article_id` names an active article (e.g. before recording a ticket as solved by it)."""
    return await repository.is_active(session, article_id)


async def read(session: AsyncSession, article_id: uuid.UUID) -> Article:
    """One article, retired or not (staff may read retired ones)."""
    article = await repository.get(session, article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}", code="article_not_found")
    return article


async def page(
    session: AsyncSession, *, category: str | None, retired: bool | None, q: str | None, limit: int, offset: int
) -> tuple[Sequence[Article], int]:
    """A filtered page of articles, most recently changed first, and the total."""
    return await repository.page(session, category=category, retired=retired, q=q, limit=limit, offset=offset)


def _grams(title: str, body: str, keywords: Sequence[str]) -> list[str]:
    return domain.cjk_grams(title, *keywords, body)


async def create(
    session: AsyncSession, *, new: ArticleCreate, by: Principal, now: datetime, default_language: str = "en"
) -> Article:
    """Write a new article (version 1; `default_language` when it names none) and record who did."""
    keywords = domain.normalise_keywords(new.keywords)
    article = Article(
        id=new_id(),
        title=new.title,
        body=new.body,
        category=new.category.value if new.category else None,
        keywords=keywords,
        language=new.language or domain.language_tag(default_language),
        grams=_grams(new.title, new.body, keywords),
        version=1,
        created_at=now,
        created_by=by.sub,
        updated_at=now,
        updated_by=by.sub,
    )
    repository.add(session, article)
    await session.flush()
    await audit_log.record(
        session, audit, actor=by, action="knowledge.article_created", subject=_subject(article), details={"version": 1}
    )
    _changed(session, any_active=True)
    return article


async def _guarded(session: AsyncSession, article_id: uuid.UUID, if_match: str) -> Article:
    """The article, locked, if the caller names its current version in `If-Match` (required by
    the route, so a missing one is refused before the body or the article is looked at)."""
    article = await repository.get(session, article_id, for_update=True)
    if article is None:
        raise NotFound(f"no article with id {article_id}", code="article_not_found")
    if not domain.matches_version(if_match, article.version):
        raise PreconditionFailed(
            "the article changed since you read it; read it again and re-apply your change",
            code="article_changed",
            details={"current_etag": domain.etag(article.version)},
        )
    return article


async def update(
    session: AsyncSession,
    *,
    article_id: uuid.UUID,
    change: ArticleUpdate,
    if_match: str,
    by: Principal,
    now: datetime,
) -> Article:
    """Change the fields sent, over the version the caller read; a real change bumps the
    version and is audited (with the names of the fields it changed, never their text)."""
    article = await _guarded(session, article_id, if_match)
    wanted: dict[str, object] = {}
    sent = change.model_fields_set
    if "title" in sent and change.title is not None:
        wanted["title"] = change.title
    if "body" in sent and change.body is not None:
        wanted["body"] = change.body
    if "keywords" in sent and change.keywords is not None:
        wanted["keywords"] = domain.normalise_keywords(change.keywords)
    if "category" in sent:
        wanted["category"] = change.category.value if change.category else None
    if "language" in sent and change.language is not None:
        wanted["language"] = change.language
    changed = sorted(name for name, value in wanted.items() if getattr(article, name) != value)
    if not changed:
        return article
    for name in changed:
        setattr(article, name, wanted[name])
    article.grams = _grams(article.title, article.body, article.keywords)
    article.version += 1
    article.updated_at, article.updated_by = now, by.sub
    await session.flush()
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="knowledge.article_updated",
        subject=_subject(article),
        details={"version": article.version, "changed": changed},
    )
    return article


async def retire(session: AsyncSession, *, article_id: uuid.UUID, by: Principal, now: datetime) -> Article:
    """Stop suggesting and showing an article to channels; staff can still read it."""
    article = await repository.get(session, article_id, for_update=True)
    if article is None:
        raise NotFound(f"no article with id {article_id}", code="article_not_found")
    if article.retired_at is not None:
        raise Conflict(
            "the article is already retired",
            code="article_retired",
            details={"retired_at": article.retired_at.isoformat(), "retired_by": article.retired_by},
        )
    article.retired_at, article.retired_by = now, by.sub
    article.version += 1
    article.updated_at, article.updated_by = now, by.sub
    await session.flush()
    await audit_log.record(
        session,
        audit,
        actor=by,
        action="knowledge.article_retired",
        subject=_subject(article),
        details={"version": article.version},
    )
    _changed(session, any_active=None)
    return article


def _subject(article: Article) -> str:
    return f"article:{article.id}"
