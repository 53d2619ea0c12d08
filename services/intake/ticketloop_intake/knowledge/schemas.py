"""HTTP shapes of the knowledge base: what admins write, what staff and channels read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ticketloop_intake.knowledge.domain import language_tag
from ticketloop_shared.validation import STORABLE, Change, Text
from ticketloop_shared.vocabulary import Category

Keyword = Annotated[str, Field(min_length=1, max_length=50), STORABLE]
Title = Annotated[str, Field(min_length=1, max_length=200), STORABLE]
Body = Annotated[str, Field(min_length=1, max_length=20_000), STORABLE]
SearchText = Annotated[str, Field(min_length=1, max_length=200), STORABLE]
Language = Annotated[
    str,
    Field(min_length=2, max_length=35, description="A BCP-47 language tag: `en`, `zh-Hans`, `pt-BR`"),
    AfterValidator(language_tag),
]


class ArticleCreate(BaseModel):
    """A new article; without `category` it answers questions of every category."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Text = Field(min_length=1, max_length=200)
    body: Text = Field(min_length=1, max_length=20_000)
    category: Category | None = None
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    language: Language | None = Field(default=None, description="Default: the install's knowledge base language")


class ArticleUpdate(Change):
    """A change to an article: only the fields sent change (`category: null` makes it general)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    clearable = frozenset({"category"})

    title: Title | None = None
    body: Body | None = None
    category: Category | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=20)
    language: Language | None = None


class ArticleOut(BaseModel):
    """An article as stored; `version` is also its `ETag`, to send back as `If-Match`."""

    id: uuid.UUID
    title: str
    body: str
    category: Category | None
    keywords: list[str]
    language: str
    version: int
    retired: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    retired_at: datetime | None
    retired_by: str | None


class ArticleSummary(BaseModel):
    """An article in a list."""

    id: uuid.UUID
    title: str
    category: Category | None
    keywords: list[str]
    language: str
    version: int
    retired: bool
    updated_at: datetime


class ArticlePage(BaseModel):
    """One page of articles, most recently changed first."""

    items: list[ArticleSummary]
    total: int
    limit: int
    offset: int


class SuggestionOut(BaseModel):
    """An active article that may answer the customer's question, best match first."""

    article_id: uuid.UUID
    title: str
    snippet: str = Field(description="The part of the body that matched, as plain text")
    rank: float = Field(
        description="`ts_rank` of the words matched plus the share of the question's Chinese, Japanese or Korean "
        "character pairs found: higher is better; comparable within one answer"
    )


class SearchHitOut(SuggestionOut):
    """An article found by a search."""

    category: Category | None
    language: str


class SearchResults(BaseModel):
    """Active articles matching a search, best match first."""

    items: list[SearchHitOut]
    limit: int
