"""Rules about the organisation: it is loaded and replaced whole, and always consistent."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_routing.db import audit
from ticketloop_routing.organisation import domain, repository
from ticketloop_routing.organisation.domain import AgentConfig, DepartmentConfig, OrgSnapshot, Presence, Strategy
from ticketloop_routing.organisation.models import Agent, CategoryRoute, Department
from ticketloop_routing.organisation.schemas import AgentIn, AgentOut, DepartmentIn, Organisation
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.clock import utcnow
from ticketloop_shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from ticketloop_shared.state import ProcessState, Slot


@dataclass
class _Known:
    """The organisation this process routes with, replaced whenever the stored version differs."""

    snapshot: OrgSnapshot | None = None


_KNOWN = Slot("routing organisation", _Known)


def read_file(path: Path) -> Organisation:
    """Parse and validate an organisation TOML file (a bad file stops the service at start)."""
    try:
        return Organisation.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RuntimeError(f"cannot load organisation file {path}: {exc}") from exc


async def replace(session: AsyncSession, org: Organisation, *, at: datetime) -> None:
    """Make `org` the organisation."""
    await repository.replace(
        session,
        departments=[
            Department(
                id=d.id,
                name=d.name,
                is_fallback=d.id == org.fallback_department,
                strategy=d.strategy.value,
                default_capacity=d.default_capacity,
                supervisor=d.supervisor,
            )
            for d in org.departments
        ],
        agents=[
            Agent(
                id=a.id,
                name=a.name,
                department_id=a.department,
                active=a.active,
                capacity=a.capacity,
                skills=list(a.skills),
            )
            for a in org.agents
        ],
        routes=[CategoryRoute(category=c, department_id=d) for c, d in org.categories.items()],
        at=at,
    )


def cached(state: ProcessState) -> OrgSnapshot | None:
    """The organisation this process (`state`, the runtime's) last loaded (it may be stale: the
    caller compares its version with the stored one)."""
    return state[_KNOWN].snapshot


async def load_snapshot(session: AsyncSession, state: ProcessState) -> OrgSnapshot | None:
    """Read the organisation, keep it in the process's `state` and return it; None when none is
    stored."""
    version = await repository.version(session)
    if version is None:
        state[_KNOWN].snapshot = None
        return None
    snapshot = OrgSnapshot.build(
        version=version,
        departments=[
            DepartmentConfig(
                id=d.id,
                name=d.name,
                strategy=Strategy(d.strategy),
                default_capacity=d.default_capacity,
                supervisor=d.supervisor,
                is_fallback=d.is_fallback,
            )
            for d in await repository.departments(session)
        ],
        agents=[
            AgentConfig(
                id=a.id,
                name=a.name,
                department_id=a.department_id,
                active=a.active,
                capacity=a.capacity,
                skills=frozenset(a.skills or ()),
            )
            for a in await repository.configured_agents(session)
        ],
        routes={r.category: r.department_id for r in await repository.routes(session)},
    )
    state[_KNOWN].snapshot = snapshot
    return snapshot


async def snapshot(session: AsyncSession, state: ProcessState) -> OrgSnapshot | None:
    """The current organisation: the cached one if still the stored version, else reloaded."""
    known = cached(state)
    if known is not None and known.version == await repository.version(session):
        return known
    return await load_snapshot(session, state)


async def set_presence(
    session: AsyncSession, *, agent_id: str, presence: Presence, by: Principal, at: datetime
) -> None:
    """Record an agent's presence, if the caller may set it (the agent itself, a supervisor of its
    department, an admin), and audit a change made by someone else."""
    rows = await repository.agents(session, agent_id=agent_id)
    if not rows:
        raise NotFound(f"no agent {agent_id!r} in the organisation", code="agent_not_found")
    agent = rows[0].agent
    refusal = domain.presence_refusal(
        role=by.role.value,
        sub=by.sub,
        department=by.department,
        agent_id=agent.id,
        agent_department=agent.department_id,
    )
    if refusal is not None:
        raise Forbidden(
            "only the agent itself, a supervisor of its department or an admin may set its presence", code=refusal
        )
    before = await repository.set_presence(session, agent.id, presence.value, at=at)
    if before != presence.value and by.sub != agent.id:
        await audit_log.record(
            session,
            audit,
            actor=by,
            action="agent.presence_set",
            subject=f"agent:{agent.id}",
            details={"before": before, "after": presence.value},
        )


async def agents_out(
    session: AsyncSession,
    state: ProcessState,
    *,
    default_capacity: int | None,
    department_id: str | None = None,
    agent_id: str | None = None,
) -> list[AgentOut]:
    """Agents (of a department, or one) with their presence, how many open tickets each owns and
    the capacity that applies to them."""
    org = await snapshot(session, state)
    return [
        _agent_out(row, org, default_capacity)
        for row in await repository.agents(session, department_id=department_id, agent_id=agent_id)
    ]


def _agent_out(row: repository.AgentRow, org: OrgSnapshot | None, default: int | None) -> AgentOut:
    agent = row.agent
    config = org.agents.get(agent.id) if org is not None else None
    capacity = org.capacity_of(config, default) if org is not None and config is not None else agent.capacity
    return AgentOut(
        id=agent.id,
        name=agent.name,
        department_id=agent.department_id,
        active=agent.active,
        presence=Presence(row.presence),
        presence_changed_at=row.presence_changed_at,
        open_tickets=row.open_tickets,
        capacity=capacity,
        skills=list(agent.skills or ()),
    )


def etag(org: Organisation) -> str:
    """The version of an organisation as stored, for `ETag` / `If-Match`."""
    return '"' + hashlib.sha256(org.model_dump_json().encode()).hexdigest()[:32] + '"'


async def replace_guarded(
    session: AsyncSession, new: Organisation, *, if_match: str, by: Principal, at: datetime
) -> None:
    """Replace the organisation only if the caller saw the current version, no open ticket loses
    its owner, and the change is audited with what it changed."""
    await repository.lock(session)
    before = await current(session)
    version = etag(before)
    if if_match.removeprefix("W/").strip() != version:
        raise PreconditionFailed(
            "the organisation changed since you read it; read it again and re-apply your change",
            code="organisation_changed",
            details={"current_etag": version},
        )
    kept = {a.id for a in new.agents}
    orphaned = sorted(
        row.agent.id for row in await repository.agents(session) if row.open_tickets and row.agent.id not in kept
    )
    if orphaned:
        raise Conflict(
            "these agents still own open tickets; keep them with active = false instead of removing them",
            code="agent_has_open_tickets",
            details={"agents": orphaned},
        )
    await replace(session, new, at=at)
    await audit_log.record(
        session, audit, actor=by, action="organisation.replaced", subject="organisation", details=_changes(before, new)
    )


def _changes(before: Organisation, after: Organisation) -> dict[str, Any]:
    """What a replacement changed, by id, for the audit log."""

    def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
        return {
            "added": sorted(set(new) - set(old)),
            "removed": sorted(set(old) - set(new)),
            "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
        }

    return {
        "departments": diff(
            {d.id: d.model_dump() for d in before.departments}, {d.id: d.model_dump() for d in after.departments}
        ),
        "agents": diff({a.id: a.model_dump() for a in before.agents}, {a.id: a.model_dump() for a in after.agents}),
        "categories": diff(before.categories, after.categories),
        "fallback_department": [before.fallback_department, after.fallback_department],
    }


async def load_if_empty(session: AsyncSession, path: Path, *, at: datetime | None = None) -> bool:
    """Seed from the file on first start; later starts keep what admins changed. Replicas
    starting together seed once: the organisation lock is taken before looking."""
    await repository.lock(session)
    if await repository.has_departments(session):
        return False
    await replace(session, read_file(path), at=at or utcnow())
    return True


def scoped(staff: Principal, asked: str | None, *, what: str) -> str | None:
    """The department a staff list of `what` shows (None: every one, for an admin), or 403 when
    the caller asks for another department's (`domain.listing_scope`)."""
    department, refusal = domain.listing_scope(role=staff.role.value, department=staff.department, asked=asked)
    if refusal is not None:
        raise Forbidden(f"you may see only your own department's {what}", code=refusal)
    return department


async def member_ids(session: AsyncSession, department_id: str) -> list[str]:
    """The ids of a department's agents (active or not)."""
    return [row.agent.id for row in await repository.agents(session, department_id=department_id)]


async def is_agent(session: AsyncSession, agent_id: str) -> bool:
    """Whether `agent_id` is configured in the organisation (active or not)."""
    return bool(await repository.agents(session, agent_id=agent_id))


async def department_names(session: AsyncSession) -> dict[str, str]:
    """Every department's name by its id."""
    return {d.id: d.name for d in await repository.departments(session)}


async def current(session: AsyncSession) -> Organisation:
    """The organisation as stored, in the shape it is configured in."""
    departments = await repository.departments(session)
    fallback = next((d.id for d in departments if d.is_fallback), "")
    return Organisation.model_construct(
        fallback_department=fallback,
        departments=[DepartmentIn.model_validate(d) for d in departments],
        agents=[
            AgentIn(
                id=a.id,
                name=a.name,
                department=a.department_id,
                active=a.active,
                capacity=a.capacity,
                skills=list(a.skills or ()),
            )
            for a in await repository.configured_agents(session)
        ],
        categories={r.category: r.department_id for r in await repository.routes(session)},
    )
