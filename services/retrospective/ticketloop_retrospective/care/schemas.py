"""HTTP shapes of anticipation rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticketloop_retrospective.care.domain import Anchor
from ticketloop_shared.validation import STORABLE
from ticketloop_shared.vocabulary import Category, Segment


class CareRuleIn(BaseModel):
    """An anticipation rule: `offset_days` after each customer's anchor, a care contact is due
    (once per customer), for the customers in `segments` at that moment (all when empty)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100), STORABLE]
    anchor: Anchor = Field(
        description="`customer_since` (tenure start, from its midnight UTC), `first_seen`, or `order` (each purchase's "
        "`ordered_at`: the rule fires once per order, e.g. a delivery check 3 days after; cancelled and returned "
        "orders never)."
    )
    offset_days: int = Field(ge=0, le=3650, description="Days after the anchor.")
    category: Category = Category.OTHER
    segments: list[Segment] = Field(default_factory=list, max_length=len(Segment))

    @field_validator("segments")
    @classmethod
    def _distinct(cls, value: list[Segment]) -> list[Segment]:
        if len(set(value)) != len(value):
            raise ValueError("each segment may be named once")
        return value


class CareRuleOut(BaseModel):
    """An anticipation rule as stored."""

    id: str
    name: str
    anchor: Anchor
    offset_days: int
    category: str
    segments: list[str]
    active_from: datetime = Field(description="Only moments from here on fire (the rule's creation).")
    updated_at: datetime
    updated_by: str
    version: int = Field(description="Also the `ETag`: send it back as `If-Match` to replace or delete the rule.")


class CareRuleList(BaseModel):
    """Every anticipation rule, by id."""

    items: list[CareRuleOut]
