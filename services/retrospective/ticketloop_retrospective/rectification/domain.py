"""The hot-category rule and an item's life, kept pure so they are unit-tested alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from ticketloop_retrospective.rounding import round_half_up
from ticketloop_shared.errors import Conflict, NotFound, Unprocessable


class Measure(StrEnum):
    """What "hot" is measured on: the category's share of the week's tickets, or its count."""

    SHARE = "share"
    COUNT = "count"


class ItemStatus(StrEnum):
    """An item is worked on until closed; a closed item stays closed."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


ALLOWED: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.OPEN: frozenset({ItemStatus.IN_PROGRESS, ItemStatus.CLOSED}),
    ItemStatus.IN_PROGRESS: frozenset({ItemStatus.OPEN, ItemStatus.CLOSED}),
    ItemStatus.CLOSED: frozenset(),
}


class ItemNotFound(NotFound):
    """No rectification item with this id."""

    code = "rectification_not_found"


class ItemClosed(Conflict):
    """A closed item is history: a new problem opens a new item."""

    code = "rectification_closed"


class InvalidThreshold(Unprocessable):
    """A threshold that could never, or would always, fire."""

    code = "invalid_threshold"


def check_transition(current: ItemStatus, wanted: ItemStatus) -> None:
    """Refuse a step the item's life does not allow."""
    if wanted != current and wanted not in ALLOWED[current]:
        raise ItemClosed(f"item is {current.value}; it cannot become {wanted.value}", details={"status": current.value})


@dataclass(frozen=True)
class WeekCount:
    """One category's tickets in one week, against the week's total."""

    week: str
    tickets: int
    total: int

    @property
    def share_pct(self) -> float:
        """The category's share of the week's tickets, one decimal (0 in an empty week)."""
        return round_half_up(Fraction(self.tickets * 100, self.total)) if self.total else 0.0

    def evidence(self) -> dict[str, object]:
        """The week as the item's evidence shows it."""
        return {"week": self.week, "tickets": self.tickets, "total": self.total, "share_pct": self.share_pct}


def is_hot(week: WeekCount, *, measure: Measure, threshold: float) -> bool:
    """The category is above its threshold that week (strictly: at the threshold is not hot)."""
    value = week.share_pct if measure is Measure.SHARE else float(week.tickets)
    return week.tickets > 0 and value > threshold


def hot_run(weeks: Sequence[WeekCount], *, measure: Measure, threshold: float) -> list[WeekCount]:
    """The consecutive hot weeks ending with the last of `weeks` (oldest first; empty when the
    last week is not hot)."""
    run: list[WeekCount] = []
    for week in reversed(weeks):
        if not is_hot(week, measure=measure, threshold=threshold):
            break
        run.append(week)
    return run[::-1]


def streak_to_open(
    weeks: Sequence[WeekCount], *, measure: Measure, threshold: float, required: int
) -> list[WeekCount] | None:
    """The hot streak that owes an item: at least `required` consecutive hot weeks ending with the
    last complete week, or None. The item is keyed by the streak's first week, so the same streak
    seen again next week (now one longer) is the same item, never a second one."""
    run = hot_run(weeks, measure=measure, threshold=threshold)
    return run if len(run) >= required else None
