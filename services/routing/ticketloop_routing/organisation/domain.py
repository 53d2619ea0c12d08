"""The organisation as routing decides with it: a read-only snapshot kept in process memory and
replaced when the stored version changes (so the hot path does not re-read it per ticket)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Strategy(StrEnum):
    """How a department picks among its eligible agents."""

    # Fewest open tickets first, ties by id (the default: what routing always did).
    LEAST_LOADED = "least_loaded"
    # The eligible agent given a ticket least recently (never first), ties by id.
    ROUND_ROBIN = "round_robin"
    # Only agents whose skills cover all of the ticket's `required_skills`; least loaded among them.
    SKILLS = "skills"


class Presence(StrEnum):
    """Whether an agent is taking work now; only `available` agents are given tickets."""

    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True)
class DepartmentConfig:
    """A department as configured."""

    id: str
    name: str
    strategy: Strategy = Strategy.LEAST_LOADED
    default_capacity: int | None = None
    supervisor: str | None = None
    is_fallback: bool = False


@dataclass(frozen=True)
class AgentConfig:
    """An agent as configured."""

    id: str
    name: str
    department_id: str
    active: bool = True
    capacity: int | None = None
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OrgSnapshot:
    """One version of the organisation, indexed for routing."""

    version: uuid.UUID
    departments: dict[str, DepartmentConfig]
    agents: dict[str, AgentConfig]
    routes: dict[str, str]
    fallback: str | None
    members: dict[str, tuple[AgentConfig, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        version: uuid.UUID,
        departments: list[DepartmentConfig],
        agents: list[AgentConfig],
        routes: dict[str, str],
    ) -> OrgSnapshot:
        """Index departments, agents (by department, in id order) and the category map."""
        members: dict[str, list[AgentConfig]] = {d.id: [] for d in departments}
        for agent in sorted(agents, key=lambda a: a.id):
            members.setdefault(agent.department_id, []).append(agent)
        return cls(
            version=version,
            departments={d.id: d for d in departments},
            agents={a.id: a for a in agents},
            routes=dict(routes),
            fallback=next((d.id for d in departments if d.is_fallback), None),
            members={k: tuple(v) for k, v in members.items()},
        )

    def department_for(self, category: str) -> DepartmentConfig | None:
        """The department owning `category`, else the fallback; None with no organisation."""
        department_id = self.routes.get(category, self.fallback)
        return self.departments.get(department_id) if department_id is not None else None

    def capacity_of(self, agent: AgentConfig, default: int | None) -> int | None:
        """The most open tickets `agent` may own: its own capacity, else its department's default,
        else the service default (None: no limit)."""
        if agent.capacity is not None:
            return agent.capacity
        department = self.departments.get(agent.department_id)
        if department is not None and department.default_capacity is not None:
            return department.default_capacity
        return default

    def name_of(self, staff_id: str) -> str:
        """An agent's name, or the id itself for staff who are not configured agents (a supervisor)."""
        agent = self.agents.get(staff_id)
        return agent.name if agent is not None else staff_id


def presence_refusal(
    *, role: str, sub: str, department: str | None, agent_id: str, agent_department: str
) -> str | None:
    """Why the caller may not set this agent's presence (None: it may). The agent itself may, a
    supervisor of the agent's department may, an admin may; nobody else."""
    if role == "admin":
        return None
    if role == "agent":
        return None if sub == agent_id else "presence_not_own"
    if role == "supervisor":
        return None if department == agent_department else "presence_other_department"
    return "presence_not_allowed"


def listing_scope(*, role: str, department: str | None, asked: str | None) -> tuple[str | None, str | None]:
    """Which department a staff list shows (None: every one) and why the ask is refused (None:
    it is not). An admin sees what it asks for; an agent or supervisor its own department only:
    asking for another is refused (`not_your_department`), and a token naming no department
    sees nothing (`department_required`)."""
    if role == "admin":
        return asked, None
    if department is None:
        return None, "department_required"
    if asked is not None and asked != department:
        return None, "not_your_department"
    return department, None
