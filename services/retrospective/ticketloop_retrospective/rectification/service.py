"""The rules of rectification: the weekly review of hot categories, and staff working items to
closed. Every change writes its event to the outbox in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_retrospective.db import audit
from ticketloop_retrospective.rectification import repository
from ticketloop_retrospective.rectification.domain import (
    ItemNotFound,
    ItemStatus,
    Measure,
    WeekCount,
    check_transition,
    is_hot,
    streak_to_open,
)
from ticketloop_retrospective.rectification.models import RectificationItem
from ticketloop_retrospective.rectification.schemas import ItemChange, ItemCreate, ItemOut, WeekShare
from ticketloop_retrospective.reports import service as reports
from ticketloop_retrospective.reports.domain import ReportWeek, pain_class_of
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_retrospective.unit import RetrospectiveUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.api import etag
from ticketloop_shared.auth import Principal
from ticketloop_shared.errors import PreconditionFailed
from ticketloop_shared.events import RectificationClosedData, RectificationOpenedData
from ticketloop_shared.ids import new_id

SYSTEM = "retrospective"


class ItemChanged(PreconditionFailed):
    """The item changed since the version the caller read."""

    code = "rectification_changed"


def _threshold(settings: RetrospectiveSettings, category: str) -> float:
    return settings.hot_category_thresholds.get(category, settings.hot_category_threshold)


def _threshold_text(settings: RetrospectiveSettings, category: str) -> str:
    unit = "share_pct" if settings.hot_category_measure is Measure.SHARE else "tickets"
    return f"{unit} > {_threshold(settings, category):g} for {settings.hot_category_weeks} weeks"


async def week_counts(session: AsyncSession, weeks: list[ReportWeek]) -> dict[str, list[WeekCount]]:
    """Each category's tickets in each of `weeks` (oldest first), against the week's total."""
    by_category: dict[str, list[WeekCount]] = {}
    for n, week in enumerate(weeks):
        counts = await reports.opened_by_category(session, starts_at=week.starts_at, ends_at=week.ends_at)
        total = sum(c for _, c in counts)
        for category, tickets in counts:
            series = by_category.setdefault(category, [WeekCount(w.label, 0, 0) for w in weeks[:n]])
            series.append(WeekCount(week.label, tickets, total))
        for series in by_category.values():
            if len(series) == n:  # no tickets of this category this week
                series.append(WeekCount(week.label, 0, total))
    return by_category


def _weeks_back(last: ReportWeek, count: int, settings: RetrospectiveSettings) -> list[ReportWeek]:
    weeks = [last]
    while len(weeks) < count:
        weeks.append(weeks[-1].previous(settings.report_zone))
    return weeks[::-1]


async def review_last_week(uow: RetrospectiveUnit) -> list[RectificationItem]:
    """SPEC §4: a category hot for `hot_category_weeks` weeks in a row opens one item. Looks at
    the last complete week (on the injected clock) and the weeks before it; a streak that already
    has its item (still going, or seen by another replica) opens nothing. Returns what it opened."""
    settings, session, now = uow.settings, uow.session, uow.now()
    zone = settings.report_zone
    last = ReportWeek.containing(now, zone).previous(zone)
    weeks = _weeks_back(last, settings.hot_category_lookback_weeks, settings)
    opened: list[RectificationItem] = []
    for category, series in sorted((await week_counts(session, weeks)).items()):
        threshold = _threshold(settings, category)
        streak = streak_to_open(
            series, measure=settings.hot_category_measure, threshold=threshold, required=settings.hot_category_weeks
        )
        if streak is None:
            continue
        previous_week = weeks[-2].label if len(weeks) > 1 else last.label
        going_on = await repository.continuing(session, category=category, weeks=[previous_week, last.label])
        if going_on is not None:
            await repository.extend(session, item_id=going_on.id, week=last.label)
            continue
        first = ReportWeek.parse(streak[0].week, zone)
        item = await repository.open_once(
            session,
            {
                "id": new_id(),
                "category": category,
                "pain_class": pain_class_of(category, settings.pain_classes).value,
                "streak_started": streak[0].week,
                "last_hot_week": last.label,
                "title": f"{category} hot for {len(streak)} weeks in a row",
                "evidence": [w.evidence() for w in streak],
                "threshold": _threshold_text(settings, category),
                "owner_department": await repository.main_department(
                    session, category=category, since=first.starts_at, until=last.ends_at
                ),
                "status": ItemStatus.OPEN.value,
                "opened_at": now,
                "opened_by": SYSTEM,
                "due_at": now + timedelta(days=settings.rectification_due_days),
                "version": 1,
            },
        )
        if item is None:
            continue
        _announce(uow, item, weeks=len(streak))
        opened.append(item)
    return opened


def _announce(uow: RetrospectiveUnit, item: RectificationItem, *, weeks: int) -> None:
    uow.emit(
        RectificationOpenedData(
            item_id=item.id,
            category=item.category,
            pain_class=item.pain_class,
            streak_started=item.streak_started or "",
            weeks=weeks,
            threshold=item.threshold,
            evidence=item.evidence,
            owner_department=item.owner_department,
            opened_at=item.opened_at,
            due_at=item.due_at,
        ),
        subject=item.id,
    )


async def open_by_hand(uow: RetrospectiveUnit, *, body: ItemCreate, by: Principal) -> RectificationItem:
    """Staff open an item the weekly rule did not (announced like any other)."""
    settings, now = uow.settings, uow.now()
    item = RectificationItem(
        id=new_id(),
        category=body.category,
        pain_class=pain_class_of(body.category, settings.pain_classes).value,
        streak_started=None,
        last_hot_week=None,
        title=body.title,
        evidence=[],
        threshold="opened by hand",
        owner_department=body.owner_department,
        status=ItemStatus.OPEN.value,
        notes=body.notes,
        opened_at=now,
        opened_by=by.sub,
        due_at=body.due_at or now + timedelta(days=settings.rectification_due_days),
        version=1,
    )
    uow.session.add(item)
    await uow.session.flush()
    _announce(uow, item, weeks=0)
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="rectification.opened",
        subject=f"rectification:{item.id}",
        details={
            "category": item.category,
            "owner_department": item.owner_department,
            "due_at": item.due_at.isoformat(),
        },
    )
    return item


def _audited(changes: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a change: the values of the structured fields, only the names
    of the free-text ones (notes are staff prose; an append-only log is no place to copy it)."""
    kept: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "notes":
            kept[field] = "changed"
        elif isinstance(value, datetime):
            kept[field] = value.isoformat()
        elif isinstance(value, ItemStatus):
            kept[field] = value.value
        else:
            kept[field] = value
    return kept


async def change(
    uow: RetrospectiveUnit, *, item_id: uuid.UUID, body: ItemChange, version: int, by: Principal
) -> RectificationItem:
    """Work an item: status, owner, due date, notes; closing it announces whether it cooled."""
    item = await repository.get(uow.session, item_id, for_update=True)
    if item is None:
        raise ItemNotFound(f"no rectification item {item_id}")
    if version != item.version:
        raise ItemChanged(
            f"item {item_id} is at version {item.version}, not {version}",
            details={"version": item.version, "current_etag": etag(item.version)},
        )
    current = ItemStatus(item.status)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    wanted = body.status or current
    check_transition(current, wanted)
    if current is ItemStatus.CLOSED and changes:
        check_transition(current, ItemStatus.OPEN)  # a closed item takes no edit at all
    for field, value in changes.items():
        setattr(item, field, value.value if isinstance(value, ItemStatus) else value)
    if changes:
        item.version += 1
    if wanted is ItemStatus.CLOSED and current is not ItemStatus.CLOSED:
        now = uow.now()
        item.closed_at = now
        view = await describe(uow.session, item, uow.settings, now=now)
        uow.emit(
            RectificationClosedData(
                item_id=item.id, category=item.category, closed_at=now, closed_by=by.sub, cooled=view.cooled
            ),
            subject=item.id,
        )
    await uow.session.flush()
    if changes:
        await audit_log.record(
            uow.session,
            audit,
            actor=by,
            action="rectification.changed",
            subject=f"rectification:{item.id}",
            details={"from_version": item.version - 1, "changes": _audited(changes)},
        )
    return item


def item_out(item: RectificationItem) -> ItemOut:
    """The item as the API shows it (without its weeks since)."""
    return ItemOut(
        id=item.id,
        category=item.category,
        pain_class=item.pain_class,
        title=item.title,
        status=ItemStatus(item.status),
        streak_started=item.streak_started,
        last_hot_week=item.last_hot_week,
        threshold=item.threshold,
        evidence=item.evidence,
        owner_department=item.owner_department,
        notes=item.notes,
        opened_at=item.opened_at,
        opened_by=item.opened_by,
        due_at=item.due_at,
        closed_at=item.closed_at,
        version=item.version,
    )


async def describe(
    session: AsyncSession, item: RectificationItem, settings: RetrospectiveSettings, *, now: datetime
) -> ItemOut:
    """The item with every complete week of its category since the streak began (or since it
    was opened), so the review shows whether the category cooled."""
    zone = settings.report_zone
    last = ReportWeek.containing(now, zone).previous(zone)
    first = (
        ReportWeek.parse(item.streak_started, zone)
        if item.streak_started
        else ReportWeek.containing(item.opened_at, zone)
    )
    weeks: list[ReportWeek] = []
    week = last
    while week.starts_at >= first.starts_at and len(weeks) < 104:
        weeks.append(week)
        week = week.previous(zone)
    weeks.reverse()
    out = item_out(item)
    if not weeks:
        return out
    series = (await week_counts(session, weeks)).get(item.category) or [WeekCount(w.label, 0, 0) for w in weeks]
    threshold = _threshold(settings, item.category)
    shares = [
        WeekShare(
            week=w.week,
            tickets=w.tickets,
            total=w.total,
            share_pct=w.share_pct,
            hot=is_hot(w, measure=settings.hot_category_measure, threshold=threshold),
        )
        for w in series
    ]
    return out.model_copy(update={"since_opened": shares, "cooled": not shares[-1].hot})


async def view(session: AsyncSession, *, item_id: uuid.UUID, settings: RetrospectiveSettings, now: datetime) -> ItemOut:
    """One item, with its weeks since."""
    item = await repository.get(session, item_id)
    if item is None:
        raise ItemNotFound(f"no rectification item {item_id}")
    return await describe(session, item, settings, now=now)


async def unfinished(session: AsyncSession, *, limit: int, owner_department: str | None = None) -> list[ItemOut]:
    """Items not yet closed, newest first: the open ones, then those in progress (only one
    department's, when given)."""
    found: list[RectificationItem] = []
    for status in (ItemStatus.OPEN, ItemStatus.IN_PROGRESS):
        found += await repository.page(
            session, status=status.value, category=None, limit=limit, after=None, owner_department=owner_department
        )
    return [item_out(item) for item in found[:limit]]
