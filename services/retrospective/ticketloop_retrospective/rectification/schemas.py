"""HTTP shapes of rectification items."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_retrospective.rectification.domain import ItemStatus
from ticketloop_shared.validation import STORABLE, Change, Instant

Text = Annotated[str, Field(min_length=1, max_length=200), STORABLE]


class WeekShare(BaseModel):
    """The category in one week: whether it cooled after the item opened."""

    week: str
    tickets: int
    total: int
    share_pct: float
    hot: bool


class ItemOut(BaseModel):
    """A rectification item with its evidence and, since it opened, the category's weeks."""

    id: uuid.UUID
    category: str
    pain_class: str
    title: str
    status: ItemStatus
    streak_started: str | None
    last_hot_week: str | None
    threshold: str
    evidence: list[dict[str, Any]]
    owner_department: str | None
    notes: str | None
    opened_at: datetime
    opened_by: str
    due_at: datetime
    closed_at: datetime | None
    version: int
    since_opened: list[WeekShare] | None = Field(
        default=None, description="Each complete week since the streak began (one item only)."
    )
    cooled: bool | None = Field(default=None, description="The last complete week was not hot.")


class ItemPage(BaseModel):
    """Items, newest first; pass `next_after` as `after` for the next page."""

    items: list[ItemOut]
    next_after: uuid.UUID | None


class ItemCreate(BaseModel):
    """An item opened by hand (a problem the weekly rule did not catch)."""

    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, Field(min_length=1, max_length=40), STORABLE]
    title: Text
    owner_department: Annotated[str, Field(min_length=1, max_length=100), STORABLE] | None = None
    due_at: Instant | None = None
    notes: Annotated[str, Field(max_length=4000), STORABLE] | None = None


class ItemChange(Change):
    """A change to an item; fields left out stay as they are, `null` clears the owner or the notes."""

    clearable = frozenset({"owner_department", "notes"})

    status: ItemStatus | None = None
    owner_department: Annotated[str, Field(min_length=1, max_length=100), STORABLE] | None = None
    due_at: Instant | None = None
    notes: Annotated[str, Field(max_length=4000), STORABLE] | None = None
