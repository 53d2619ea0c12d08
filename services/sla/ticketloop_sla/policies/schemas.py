"""HTTP shapes of SLA policies and business calendars, as admins write and read them."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ticketloop_shared.events import ClockKind, EscalationTarget
from ticketloop_shared.validation import ShortText

Name = Annotated[str, Field(min_length=1, max_length=200)]
Values = Annotated[list[ShortText], Field(max_length=100)]
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def _clock_time(value: str) -> str:
    if not _CLOCK_TIME.match(value):
        raise ValueError("a local time as HH:MM, from 00:00 to 24:00")
    return value


ClockTime = Annotated[str, AfterValidator(_clock_time), Field(examples=["09:00", "24:00"])]


class Strict(BaseModel):
    """Unknown fields are an error: a typo in a policy must not silently mean 'no rule'."""

    model_config = ConfigDict(extra="forbid")


class ConditionsIn(Strict):
    """Which tickets a policy applies to; an empty list matches anything."""

    channels: Values = Field(default_factory=list)
    categories: Values = Field(default_factory=list)
    urgencies: Values = Field(default_factory=list)
    segments: Values = Field(
        default_factory=list, description="Customer segments (new, high_value, churn_risk, potential)."
    )
    needs: Values = Field(
        default_factory=list,
        description="What the customer wants done (refund, replacement, repair, information, complaint, other).",
    )


class TargetIn(Strict):
    """A metric's allowance and the calendar its time is counted in."""

    minutes: float = Field(gt=0, le=525_600, allow_inf_nan=False)
    calendar: ShortText = Field(default="24x7", description="A calendar id, or `24x7` for plain elapsed time.")


class StepIn(Strict):
    """One step of the escalation chain."""

    level: int = Field(ge=1, le=9)
    share: float = Field(
        gt=0, le=10, allow_inf_nan=False, description="Reached at this share of the target (1.0 = the due instant)."
    )
    notify: EscalationTarget
    group: ShortText | None = Field(default=None, description="The group a `group` step notifies.")


def _spec_steps() -> list[StepIn]:
    return [
        StepIn(level=1, share=0.75, notify=EscalationTarget.ASSIGNEE),
        StepIn(level=2, share=1.0, notify=EscalationTarget.SUPERVISOR),
        StepIn(level=3, share=1.5, notify=EscalationTarget.GROUP, group="service-managers"),
    ]


class PolicyIn(Strict):
    """A policy as an admin writes it. Policies are tried by ascending `position`; the first
    whose conditions all hold applies."""

    name: Name
    position: int = Field(ge=0, le=1_000_000)
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)
    targets: dict[ClockKind, TargetIn] = Field(
        min_length=1, description="A metric left out is not measured under this policy."
    )
    pauses: dict[ClockKind, Annotated[list[ShortText], Field(max_length=10)]] = Field(
        default_factory=dict,
        description="Per metric, the ticket statuses that stop it counting (e.g. waiting_on_customer).",
    )
    warning_share: float = Field(default=0.75, gt=0, lt=1, allow_inf_nan=False)
    escalation: Annotated[list[StepIn], Field(max_length=9)] = Field(default_factory=_spec_steps)


class PolicyOut(BaseModel):
    """A policy as stored, with its version (the `ETag` of its read-back)."""

    id: str
    name: str
    position: int
    conditions: ConditionsIn
    targets: dict[ClockKind, TargetIn]
    pauses: dict[ClockKind, list[str]]
    warning_share: float
    escalation: list[StepIn]
    version: int
    updated_at: datetime


class PolicyList(BaseModel):
    """Every policy in the order they are tried, and the version of the rules as a whole."""

    items: list[PolicyOut]
    rules_version: int


class ChangeOut(BaseModel):
    """One versioned change of a policy or calendar."""

    seq: int
    version: int
    action: str
    actor: str
    changed_at: datetime
    snapshot: dict[str, object] | None


class ChangeList(BaseModel):
    """A policy's or calendar's history, newest first."""

    items: list[ChangeOut]


class Weekday(StrEnum):
    """Days of the week, as calendars name them."""

    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


WEEKDAYS = list(Weekday)


class IntervalIn(Strict):
    """A working interval in the calendar's local time; `end` may be 24:00."""

    start: ClockTime
    end: ClockTime


class HolidayIn(Strict):
    """A local date the calendar is closed all day."""

    day: date
    name: Annotated[str, Field(max_length=200)] = "holiday"


class CalendarIn(Strict):
    """A business calendar: a time zone and the working intervals of each weekday (a day left
    out is closed)."""

    name: Name
    time_zone: ShortText = Field(examples=["Europe/Berlin"])
    week: dict[Weekday, Annotated[list[IntervalIn], Field(max_length=12)]]
    holidays: Annotated[list[HolidayIn], Field(max_length=5000)] | None = Field(
        default=None, description="Replaces the holidays when given; left out, they stay as they are."
    )


class CalendarOut(BaseModel):
    """A calendar as stored."""

    id: str
    name: str
    time_zone: str
    week: dict[Weekday, list[IntervalIn]]
    holidays: list[HolidayIn]
    version: int
    updated_at: datetime


class CalendarList(BaseModel):
    """Every calendar (the built-in `24x7` is implicit and not listed)."""

    items: list[CalendarOut]


class HolidayImport(BaseModel):
    """What an iCalendar import added."""

    imported: int
    calendar: CalendarOut
