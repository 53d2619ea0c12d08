"""HTTP: admins write knowledge-base articles; staff list and read them; staff and channels
search them (channels show the answers to customers)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from ticketloop_intake.channels.deps import ChannelOrStaff
from ticketloop_intake.knowledge import domain, service
from ticketloop_intake.knowledge.models import Article
from ticketloop_intake.knowledge.schemas import (
    ArticleCreate,
    ArticleOut,
    ArticlePage,
    ArticleSummary,
    ArticleUpdate,
    Language,
    SearchHitOut,
    SearchResults,
    SearchText,
)
from ticketloop_intake.knowledge.service import Suggestion
from ticketloop_intake.unit import IntakeUowDep
from ticketloop_shared.api import IfMatchRequired, SessionDep
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff
from ticketloop_shared.validation import MAX_OFFSET
from ticketloop_shared.vocabulary import Category

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge base"])

_ETAG = {"ETag": {"description": "The article's version, to send back as `If-Match`", "schema": {"type": "string"}}}
_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "Unknown article (`article_not_found`)"}}


def render(article: Article) -> ArticleOut:
    """An article as admins and staff read it."""
    return ArticleOut(
        id=article.id,
        title=article.title,
        body=article.body,
        category=Category(article.category) if article.category else None,
        keywords=list(article.keywords),
        language=article.language,
        version=article.version,
        retired=article.retired_at is not None,
        created_at=article.created_at,
        created_by=article.created_by,
        updated_at=article.updated_at,
        updated_by=article.updated_by,
        retired_at=article.retired_at,
        retired_by=article.retired_by,
    )


def _hit(found: Suggestion) -> SearchHitOut:
    return SearchHitOut(
        article_id=found.article_id,
        title=found.title,
        snippet=found.snippet,
        rank=found.rank,
        category=Category(found.category) if found.category else None,
        language=found.language,
    )


@router.post("/articles", status_code=201, response_model=ArticleOut, responses={201: {"headers": _ETAG}})
async def create_article(body: ArticleCreate, uow: IntakeUowDep, admin: CurrentAdmin, response: Response) -> ArticleOut:
    """Write a new article (audited); it is searchable and suggested at once."""
    article = await service.create(
        uow.session, new=body, by=admin, now=uow.now(), default_language=uow.settings.knowledge_default_language
    )
    response.headers["ETag"] = domain.etag(article.version)
    return render(article)


@router.get("/articles", response_model=ArticlePage)
async def list_articles(
    session: SessionDep,
    _: CurrentStaff,
    category: Category | None = None,
    retired: Annotated[bool | None, Query(description="Only retired (true) or only active (false) articles")] = None,
    q: Annotated[SearchText | None, Query(description="Full-text filter (web-search syntax)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ArticlePage:
    """Articles, most recently changed first, filtered and paginated (retired ones included
    unless `retired=false`)."""
    rows, total = await service.page(
        session, category=category.value if category else None, retired=retired, q=q, limit=limit, offset=offset
    )
    items = [
        ArticleSummary(
            id=a.id,
            title=a.title,
            category=Category(a.category) if a.category else None,
            keywords=list(a.keywords),
            language=a.language,
            version=a.version,
            retired=a.retired_at is not None,
            updated_at=a.updated_at,
        )
        for a in rows
    ]
    return ArticlePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/search", response_model=SearchResults)
async def search_articles(
    session: SessionDep,
    _: ChannelOrStaff,
    q: Annotated[
        SearchText,
        Query(description='Web-search syntax: all words match, `"a phrase"`, `or`, `-word`; any text is valid'),
    ],
    category: Annotated[
        Category | None, Query(description="Only articles of this category and general ones (no category)")
    ] = None,
    language: Annotated[
        Language | None, Query(description="Only articles in this language (`zh` takes `zh-Hans` and `zh-TW` too)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResults:
    """Active articles answering `q`, best match first (PostgreSQL full-text search ranked
    by `ts_rank`; Chinese, Japanese and Korean text by character pairs), for staff and for
    channels showing answers to customers."""
    found = await service.search(
        session, q=q, category=category.value if category else None, language=language, limit=limit
    )
    return SearchResults(items=[_hit(f) for f in found], limit=limit)


@router.get("/articles/{article_id}", response_model=ArticleOut, responses={200: {"headers": _ETAG}, **_NOT_FOUND})
async def get_article(article_id: uuid.UUID, session: SessionDep, _: CurrentStaff, response: Response) -> ArticleOut:
    """One article, retired or not, with its version in `ETag`."""
    article = await service.read(session, article_id)
    response.headers["ETag"] = domain.etag(article.version)
    return render(article)


@router.patch(
    "/articles/{article_id}",
    response_model=ArticleOut,
    responses={
        200: {"headers": _ETAG},
        **_NOT_FOUND,
        412: {"description": "The article changed since the `If-Match` version was read (`article_changed`)"},
        428: {"description": "`If-Match` is missing (`if_match_required`)"},
    },
)
async def update_article(
    article_id: uuid.UUID,
    body: ArticleUpdate,
    uow: IntakeUowDep,
    admin: CurrentAdmin,
    if_match: IfMatchRequired,
    response: Response,
) -> ArticleOut:
    """Change an article's title, body, category or keywords, over the version the caller
    read (`If-Match`); audited."""
    article = await service.update(
        uow.session, article_id=article_id, change=body, if_match=if_match, by=admin, now=uow.now()
    )
    response.headers["ETag"] = domain.etag(article.version)
    return render(article)


@router.post(
    "/articles/{article_id}/retire",
    response_model=ArticleOut,
    responses={
        200: {"headers": _ETAG},
        **_NOT_FOUND,
        409: {"description": "The article is already retired (`article_retired`)"},
    },
)
async def retire_article(
    article_id: uuid.UUID, uow: IntakeUowDep, admin: CurrentAdmin, response: Response
) -> ArticleOut:
    """Retire an article: never suggested or found by search again, still readable by staff; audited."""
    article = await service.retire(uow.session, article_id=article_id, by=admin, now=uow.now())
    response.headers["ETag"] = domain.etag(article.version)
    return render(article)
