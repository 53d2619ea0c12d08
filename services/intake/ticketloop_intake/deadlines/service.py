"""Deadlines known at acceptance. sla owns every clock and publishes its policies and calendars
whole (`sla.policy_changed`, `sla.calendar_changed`); intake keeps a copy and, when it accepts a
ticket, computes the clocks sla will start with the same pure code (`ticketloop_slarules`), so
the 201 read-back and the acknowledgement carry the deadlines that apply. sla's own publication
(`sla.clocks_changed`, version 1 and up) replaces this first view (version 0) as soon as it
arrives, and from then on sla alone moves them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketloop_intake.db import statements
from ticketloop_intake.deadlines import repository
from ticketloop_intake.deadlines.models import SlaCalendarCopy, SlaPolicyCopy
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.events import ClockView, SlaCalendarChangedData, SlaPolicyChangedData
from ticketloop_shared.state import ProcessState, Slot
from ticketloop_slarules import opening, published
from ticketloop_slarules.policies import Facts, Rules

# As in sla: the copy in memory is trusted this long before its version is read again.
RULES_TTL_SECONDS = 1.0
# The version intake's first view of a ticket's clocks carries: below every version sla publishes.
FIRST_VIEW_VERSION = 0


@dataclass
class _RulesInMemory:
    rules: Rules | None = None
    checked: float = 0.0


_RULES = Slot("sla rules as sla published them", _RulesInMemory)


async def keep_policies(uow: IntakeUnit, published_policies: Sequence[SlaPolicyChangedData]) -> None:
    """Keep each policy as sla last published it (an older version changes nothing)."""
    await _keep(uow, SlaPolicyCopy, [(data.policy_id, data) for data in published_policies])


async def keep_calendars(uow: IntakeUnit, published_calendars: Sequence[SlaCalendarChangedData]) -> None:
    """Keep each calendar as sla last published it (an older version changes nothing)."""
    await _keep(uow, SlaCalendarCopy, [(data.calendar_id, data) for data in published_calendars])


async def _keep(
    uow: IntakeUnit,
    model: type[SlaPolicyCopy] | type[SlaCalendarCopy],
    published: Sequence[tuple[str, SlaPolicyChangedData | SlaCalendarChangedData]],
) -> None:
    for key, data in published:
        await repository.keep(
            uow.session,
            model,
            key=key,
            version=data.version,
            rules_version=data.rules_version,
            deleted=data.deleted,
            definition=data.model_dump(mode="json"),
        )
    forget(uow.state)


def forget(state: ProcessState) -> None:
    """The copy changed in this process: read it again on next use."""
    state[_RULES].rules = None


async def rules(uow: IntakeUnit) -> Rules:
    """The rules as sla last published them, from memory; their version is read (one cheap
    autocommit query) at most once a second and they are reloaded when it moved. With nothing
    published yet, SPEC's defaults (`FALLBACK`), as sla applies them too."""
    memory = uow.state[_RULES]
    now = time.monotonic()
    cached = memory.rules
    if cached is not None and now - memory.checked < RULES_TTL_SECONDS:
        return cached
    current = int(
        await statements(uow).fetchval(
            "SELECT greatest((SELECT coalesce(max(rules_version), 0) FROM sla_policy_copies), "
            "(SELECT coalesce(max(rules_version), 0) FROM sla_calendar_copies))"
        )
        or 0
    )
    if cached is None or cached.version != current:
        cached = await _load(uow, current)
    memory.rules, memory.checked = cached, now
    return cached


async def _load(uow: IntakeUnit, version: int) -> Rules:
    policies = [
        published.policy_of(SlaPolicyChangedData.model_validate(row.definition))
        for row in await repository.policies(uow.session)
    ]
    calendars = {
        row.id: published.calendar_of(SlaCalendarChangedData.model_validate(row.definition))
        for row in await repository.calendars(uow.session)
    }
    return Rules(policies=policies, calendars=calendars, version=version)


@dataclass(frozen=True)
class FirstClocks:
    """The clocks a ticket starts at its report, as sla will start them."""

    policy_id: str
    clocks: list[ClockView]


async def at_acceptance(
    uow: IntakeUnit,
    *,
    channel: str,
    category: str,
    urgency: str,
    created_at: datetime,
    status: str,
    live_session: bool,
    segment: str | None = None,
    need: str | None = None,
) -> FirstClocks:
    """The policy and clocks of a ticket accepted now (`opening.at_report`, sla's code)."""
    r = await rules(uow)
    facts = Facts(channel=channel, category=category, urgency=urgency, segment=segment, need=need)
    policy, started = opening.at_report(
        r, facts, created_at=created_at, status=status, live=opening.is_live(channel, live_session=live_session)
    )
    return FirstClocks(policy_id=policy.id, clocks=published.views(started))
