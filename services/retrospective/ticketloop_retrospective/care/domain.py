"""When care contacts fall due, pure so each rule is unit-tested alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from ticketloop_shared.events import CareOutcome
from ticketloop_shared.vocabulary import Category, Segment

# The categories intake files tickets under; a care rule must name one of them.
CATEGORIES = frozenset(c.value for c in Category)
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def start_of(day: date) -> datetime:
    """Midnight UTC at the start of `day` (a tenure start is a date; its moments are instants)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Recipient:
    """What care needs to know of a customer, as the customers read model holds it now. Handed
    to care by customers (which depend on care, never the reverse); `relationship_start` comes
    decided, since when a relationship began is a customer rule."""

    customer_id: str
    segment: str | None
    preferred_channel: str | None
    customer_since: date | None
    first_seen_at: datetime
    relationship_start: date


class Anchor(StrEnum):
    """What an anticipation rule counts its days from: the tenure start the customer gave (a
    date, counted from its midnight UTC), the first time the loop saw them, or each purchase
    they made (`order`: `ordered_at`; the rule then fires once per order, not once per customer)."""

    CUSTOMER_SINCE = "customer_since"
    FIRST_SEEN = "first_seen"
    ORDER = "order"


@dataclass(frozen=True)
class Cadence:
    """How often each segment is contacted (SPEC §5 defaults; each a setting)."""

    new_daily_for_days: int = 14
    new_every: timedelta = timedelta(days=7)
    high_value_every: timedelta = timedelta(days=15)
    churn_risk_every: timedelta = timedelta(days=3.5)
    potential_every: timedelta | None = None

    def rule(self, segment: Segment) -> str:
        """The `rule` a cadence task carries: the cadence of its segment."""
        return f"cadence:{segment.value}"

    def next_contact_at(self, segment: Segment, *, after: datetime, relationship_start: date) -> datetime | None:
        """The contact due next after `after` for a customer in `segment`; None when the segment
        has no cadence.

        new: daily while that contact still falls within the first `new_daily_for_days` days of
        the relationship, then every `new_every`; high_value every `high_value_every` (twice a
        month); churn_risk every `churn_risk_every` (twice a week), for as long as the customer
        stays in churn_risk (leaving it re-plans the schedule).
        """
        if segment is Segment.NEW:
            daily = after + timedelta(days=1)
            if daily <= start_of(relationship_start) + timedelta(days=self.new_daily_for_days):
                return daily
            return after + self.new_every
        every = {
            Segment.HIGH_VALUE: self.high_value_every,
            Segment.CHURN_RISK: self.churn_risk_every,
            Segment.POTENTIAL: self.potential_every,
        }[segment]
        return None if every is None else after + every

    def after_firing(
        self, segment: Segment, *, due_at: datetime, now: datetime, relationship_start: date
    ) -> datetime | None:
        """The next contact once the one due at `due_at` was made due at `now`. A schedule that
        fell behind (the service was down, the clock jumped) resumes from now: one contact for
        the gap, not one per missed slot."""
        upcoming = self.next_contact_at(segment, after=due_at, relationship_start=relationship_start)
        if upcoming is not None and upcoming <= now:
            upcoming = self.next_contact_at(segment, after=now, relationship_start=relationship_start)
        return upcoming


def anticipation_moment(
    anchor: Anchor,
    offset_days: int,
    *,
    customer_since: date | None,
    first_seen_at: datetime,
    ordered_at: datetime | None = None,
) -> datetime | None:
    """The instant an anticipation rule falls due for one customer (for `Anchor.ORDER`, for one
    of their orders, `ordered_at`); None when there is no such anchor (no tenure start given)."""
    if anchor is Anchor.ORDER:
        return None if ordered_at is None else ordered_at + timedelta(days=offset_days)
    if anchor is Anchor.CUSTOMER_SINCE:
        if customer_since is None:
            return None
        return start_of(customer_since) + timedelta(days=offset_days)
    return first_seen_at + timedelta(days=offset_days)


def anticipation_due(moment: datetime | None, *, active_from: datetime, now: datetime) -> bool:
    """A rule fires for a customer when its moment has come, but only for moments since the
    rule was created: a new "30 days in" rule contacts the customers reaching day 30 from now
    on, not every customer who passed day 30 years ago."""
    return moment is not None and active_from <= moment <= now


# What is recorded for a slot whose attempts all went unanswered (beside the agents' outcomes).
UNREACHABLE = "unreachable"
# The outcomes in which the customer answered (even to decline): a contact, as any interaction.
ANSWERED = frozenset({CareOutcome.REACHED, CareOutcome.DECLINED, CareOutcome.FOLLOW_UP})


def counts_as_interaction(outcome: CareOutcome | None) -> bool:
    """A completed care contact is an interaction with the customer when they answered (reached,
    declined, asked for a follow-up): it counts as their latest interaction, so a churn-risk
    customer who answered is no longer silent. An unanswered call is not one; nor is a care
    ticket resolved before outcomes existed (None)."""
    return outcome in ANSWERED


@dataclass(frozen=True)
class Retries:
    """How an unanswered care contact is tried again (each a setting)."""

    first_after: timedelta = timedelta(days=1)
    factor: float = 2.0
    max_attempts: int = 3

    def after_no_answer(self, attempt: int, *, at: datetime) -> datetime | None:
        """When the next attempt is due after attempt `attempt` (1 for the first) went unanswered
        at `at`: `first_after` × `factor`^(attempt−1) later (1, 2, 4… days); None once
        `max_attempts` attempts went unanswered (the slot stops: the customer is unreachable)."""
        if attempt >= self.max_attempts:
            return None
        return at + self.first_after * self.factor ** (attempt - 1)

    def recorded(self, outcome: CareOutcome | None, *, attempt: int) -> str | None:
        """The outcome a completion records: the agent's, except that the last allowed attempt
        going unanswered records `unreachable` (no more tasks for that slot)."""
        if outcome is CareOutcome.NO_ANSWER and attempt >= self.max_attempts:
            return UNREACHABLE
        return None if outcome is None else outcome.value
