"""The organisation as configured (TOML file or `PUT /v1/organisation`) and as shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ticketloop_routing.organisation.domain import Presence, Strategy
from ticketloop_shared.validation import STORABLE, Text

Slug = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"), STORABLE]
# A skill: a lowercase name, optionally qualified (`refunds`, `language:fr`, `product:router-x2`).
Skill = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.+-]*(:[a-z0-9][a-z0-9_.+-]*)?$")]
# How many open tickets someone may own at once.
Capacity = Annotated[int, Field(ge=1, le=100_000)]
# The `ETag` response header of the organisation's read and write (OpenAPI).
ETAG_HEADER = {
    "ETag": {"description": "The version to send back as `If-Match` when changing it", "schema": {"type": "string"}}
}


class DepartmentIn(BaseModel):
    """A department."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    id: Slug
    name: Text = Field(min_length=1, max_length=200)
    strategy: Strategy = Strategy.LEAST_LOADED
    # For agents with no capacity of their own; None: the service default (no limit unless set).
    default_capacity: Capacity | None = None
    # The staff id (an agent, or a supervisor who is not one) SLA breaches are escalated to.
    supervisor: Slug | None = None


class AgentIn(BaseModel):
    """An agent, their department, how much they may own at once and what they know."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Text = Field(min_length=1, max_length=200)
    department: Slug
    active: bool = True
    capacity: Capacity | None = None
    skills: list[Skill] = Field(default_factory=list, max_length=50)


class Organisation(BaseModel):
    """A whole, consistent organisation: every reference points at a known department."""

    model_config = ConfigDict(extra="forbid")

    fallback_department: Slug
    departments: list[DepartmentIn] = Field(min_length=1)
    agents: list[AgentIn] = Field(min_length=1)
    categories: dict[Annotated[str, Field(min_length=1, max_length=40), STORABLE], Slug] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> Organisation:
        ids = [d.id for d in self.departments]
        if len(ids) != len(set(ids)):
            raise ValueError("department ids must be unique")
        agent_ids = [a.id for a in self.agents]
        if len(agent_ids) != len(set(agent_ids)):
            raise ValueError("agent ids must be unique")
        known = set(ids)
        if self.fallback_department not in known:
            raise ValueError(f"fallback_department {self.fallback_department!r} is not a department")
        for agent in self.agents:
            if agent.department not in known:
                raise ValueError(f"agent {agent.id!r} belongs to unknown department {agent.department!r}")
        for category, department in self.categories.items():
            if department not in known:
                raise ValueError(f"category {category!r} maps to unknown department {department!r}")
        for agent in self.agents:
            if len(set(agent.skills)) != len(agent.skills):
                raise ValueError(f"agent {agent.id!r} lists a skill twice")
        staffed = {a.department for a in self.agents if a.active}
        if self.fallback_department not in staffed:
            raise ValueError("the fallback department needs at least one active agent")
        for category, department in self.categories.items():
            if department not in staffed:
                raise ValueError(f"category {category!r} maps to department {department!r}, which has no active agent")
        return self


class AgentOut(BaseModel):
    """An agent with their presence and current load (`capacity` as it applies: their own, else
    the department's or the service default; None: no limit)."""

    id: str
    name: str
    department_id: str
    active: bool
    presence: Presence
    presence_changed_at: datetime | None
    open_tickets: int
    capacity: int | None
    skills: list[str]


class MeOut(BaseModel):
    """Who the token's holder is (`department_id`: the department an agent or supervisor works
    in) and, when routing knows them as an agent, their presence, capacity and open tickets."""

    sub: str
    name: str
    role: str
    department_id: str | None
    department_name: str | None
    agent: AgentOut | None


class PresenceIn(BaseModel):
    """An agent's new presence."""

    model_config = ConfigDict(extra="forbid")

    presence: Presence
