"""Retention: how long each class of a service's data is kept, applied by a rare job in small
batches, and reported (dry run) per class with how many records are past their limit and the
oldest of them.

This module is plumbing only: what a class is, how its limit is read and how batches run. Each
service declares its own classes (what is personal, when its clock starts, whether it is erased
in place or its rows deleted) in its `retention/schedule.py`, next to the features that own the
data; the audit log, being this package's table, has its class here (`audit_class`).

A limit of 0 days keeps the class forever. Each batch is its own short transaction, so the job
never holds many locks for long, and rows another replica is working on are skipped
(`FOR UPDATE SKIP LOCKED`), so replicas running the job at once share the work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketloop_shared.api import UowDep
from ticketloop_shared.auth import CurrentAdmin
from ticketloop_shared.clock import SystemClock
from ticketloop_shared.db import make_engine
from ticketloop_shared.settings import ServiceSettings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
Action = Literal["erase", "delete"]


@dataclass(frozen=True)
class Found:
    """The records of one class past their limit: how many, and the oldest one's date."""

    count: int
    oldest: datetime | None


@dataclass(frozen=True)
class DataClass(Generic[S]):
    """One class of data and how it is retained.

    `days` reads the limit from the service's settings (0: forever); `setting` names its
    environment variable, for the report. `find` counts what is past `cutoff` without changing
    anything; `apply` erases or deletes at most `limit` of those records and says how many."""

    name: str
    action: Action
    setting: str
    days: Callable[[S], float]
    find: Callable[[AsyncSession, datetime], Awaitable[Found]]
    apply: Callable[[AsyncSession, datetime, int, datetime], Awaitable[int]]
    description: str = ""


class ClassReport(BaseModel):
    """What retention found (dry run) or did for one class of one service."""

    service: str
    data_class: str
    description: str
    action: Action
    setting: str
    # None: the class is kept forever (its setting is 0).
    keep_days: float | None
    cutoff: datetime | None
    # Past the limit when the run began (dry run: what a run would erase or delete).
    due: int
    oldest: datetime | None
    # Erased or deleted by this run (always 0 in a dry run).
    done: int
    dry_run: bool


def cutoff_of(days: float, now: datetime) -> datetime | None:
    """The instant before which a class's records are past their limit; None when kept forever."""
    return None if days <= 0 else now - timedelta(days=days)


async def report(
    session: AsyncSession, classes: Sequence[DataClass[S]], settings: S, *, service: str, now: datetime
) -> list[ClassReport]:
    """The dry run: per class, how many records are past their limit and the oldest; changes nothing."""
    return [await _found(session, data_class, settings, service=service, now=now) for data_class in classes]


async def _found(
    session: AsyncSession, data_class: DataClass[S], settings: S, *, service: str, now: datetime
) -> ClassReport:
    days = data_class.days(settings)
    cutoff = cutoff_of(days, now)
    found = Found(0, None) if cutoff is None else await data_class.find(session, cutoff)
    return ClassReport(
        service=service,
        data_class=data_class.name,
        description=data_class.description,
        action=data_class.action,
        setting=data_class.setting,
        keep_days=days if cutoff is not None else None,
        cutoff=cutoff,
        due=found.count,
        oldest=found.oldest,
        done=0,
        dry_run=True,
    )


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    classes: Sequence[DataClass[S]],
    settings: S,
    *,
    service: str,
    now: datetime,
    batch: int,
    max_batches: int = 1_000_000,
) -> list[ClassReport]:
    """Apply the schedule: each class in batches of `batch` records, one transaction each, until
    a batch comes back short; progress logged per class. One failing class is logged and the
    others still run."""
    reports = []
    for data_class in classes:
        async with sessions() as session, session.begin():
            found = await _found(session, data_class, settings, service=service, now=now)
        done = 0
        if found.cutoff is not None and found.due:
            try:
                done = await _batches(sessions, data_class, found.cutoff, now, batch, max_batches, service)
            except Exception as exc:
                log.warning(
                    "retention class failed",
                    extra={"data_class": data_class.name, "done": done, "error": repr(exc)},
                )
        reports.append(found.model_copy(update={"done": done, "dry_run": False}))
    return reports


async def _batches(
    sessions: async_sessionmaker[AsyncSession],
    data_class: DataClass[S],
    cutoff: datetime,
    now: datetime,
    batch: int,
    max_batches: int,
    service: str,
) -> int:
    done = 0
    for _ in range(max_batches):
        async with sessions() as session, session.begin():
            n = await data_class.apply(session, cutoff, batch, now)
        done += n
        if n:
            log.info(
                "retention batch",
                extra={"service": service, "data_class": data_class.name, "action": data_class.action, "done": done},
            )
        if n < batch:
            break
    return done


def audit_class(
    table: Table, *, days: Callable[[S], float], setting: str, description: str = "audit log entries"
) -> DataClass[S]:
    """The audit log's class: entries older than the limit are deleted."""

    async def find(session: AsyncSession, cutoff: datetime) -> Found:
        row = (await session.execute(select(func.count(), func.min(table.c.at)).where(table.c.at < cutoff))).one()
        return Found(int(row[0]), row[1])

    async def run(session: AsyncSession, cutoff: datetime, limit: int, now: datetime) -> int:
        return await delete_rows(session, table, table.c.at < cutoff, key=table.c.id, limit=limit)

    return DataClass(
        name="audit_entries",
        action="delete",
        setting=setting,
        days=days,
        find=find,
        apply=run,
        description=description,
    )


async def delete_rows(session: AsyncSession, table: Table, where: Any, *, key: Any, limit: int) -> int:
    """Delete at most `limit` rows matching `where` (identified by `key`), skipping rows another
    transaction holds; how many went."""
    chosen = select(key).where(where).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    result = await session.execute(delete(table).where(key.in_(chosen)))
    return int(getattr(result, "rowcount", 0) or 0)


class RetentionReport(BaseModel):
    """The retention schedule of one service and what is past it."""

    service: str
    at: datetime
    dry_run: bool
    classes: list[ClassReport]


def retention_router(service: str, classes: Sequence[DataClass[Any]]) -> APIRouter:
    """`GET /v1/retention`: the dry-run report, for administrators."""
    router = APIRouter(prefix="/v1/retention", tags=["retention"])

    @router.get("", response_model=RetentionReport)
    async def read_retention(uow: UowDep, _: CurrentAdmin) -> RetentionReport:
        """Per class of data: its limit, its setting, how many records are past it and the oldest
        (what the next run of the retention job erases or deletes). Changes nothing."""
        now = uow.now()
        found = await report(uow.session, classes, uow.settings, service=service, now=now)
        return RetentionReport(service=service, at=now, dry_run=True, classes=found)

    return router


async def run_cli(
    settings: ServiceSettings, classes: Sequence[DataClass[Any]], *, service: str, dry_run: bool, as_json: bool
) -> int:
    """`python -m ticketloop_<service> retention [--dry-run] [--json]`: apply (or only report)
    the service's schedule against its database, print the report; the exit status."""
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    now = SystemClock().now()
    try:
        if dry_run:
            async with sessions() as session, session.begin():
                found = await report(session, classes, settings, service=service, now=now)
        else:
            found = await apply(sessions, classes, settings, service=service, now=now, batch=settings.retention_batch)
    finally:
        await engine.dispose()
    result = RetentionReport(service=service, at=now, dry_run=dry_run, classes=found)
    if as_json:
        print(result.model_dump_json())  # noqa: T201
    else:
        print("\n".join(format_rows(result.classes)))  # noqa: T201
    return 0


def format_rows(classes: Sequence[ClassReport]) -> list[str]:
    """The report as a table for a person: per service and class, the limit and the counts."""
    lines = [f"{'service':<14} {'class':<28} {'action':<7} {'keep':>10} {'due':>8} {'done':>8}  oldest"]
    for c in classes:
        keep = "forever" if c.keep_days is None else f"{c.keep_days:g} d"
        oldest = c.oldest.isoformat(timespec="seconds") if c.oldest else "-"
        done = "-" if c.dry_run else str(c.done)
        lines.append(f"{c.service:<14} {c.data_class:<28} {c.action:<7} {keep:>10} {c.due:>8} {done:>8}  {oldest}")
    return lines
