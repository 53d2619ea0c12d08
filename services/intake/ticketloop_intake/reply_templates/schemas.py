"""HTTP shapes of canned replies: what admins write, what staff read, a template filled in."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ticketloop_shared.validation import Text
from ticketloop_shared.vocabulary import Category

_BODY = (
    "The reply, with placeholders in braces: {customer_first_name}, {customer_name}, {ticket_number}, "
    "{agent_name}, {department_name}, {first_response_due}, {resolution_due}, {committed_resolution_at}. "
    "A literal brace is written {{ or }}. Any other placeholder, or unmatched braces: 422 `unknown_placeholder`."
)


class ReplyTemplateIn(BaseModel):
    """A template as an admin writes it (creating, or replacing it whole with `PUT`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=100, description="Unique, whatever the case.")
    body: Text = Field(min_length=1, max_length=10_000, description=_BODY)
    category: Category | None = Field(
        default=None, description="Offered for tickets of this category only; null for every category."
    )
    active: bool = Field(default=True, description="Inactive templates are listed to staff but not filled in.")


class ReplyTemplateOut(BaseModel):
    """A template as stored; `version` is also its `ETag`, to send back as `If-Match`."""

    id: uuid.UUID
    name: str
    body: str
    category: Category | None
    active: bool
    placeholders: list[str] = Field(description="The placeholders the body uses, in order.")
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class ReplyTemplatePage(BaseModel):
    """One page of templates, by name."""

    items: list[ReplyTemplateOut]
    total: int
    limit: int
    offset: int


class RenderedReply(BaseModel):
    """A template filled in for one ticket, ready to edit and send as a reply."""

    text: str
