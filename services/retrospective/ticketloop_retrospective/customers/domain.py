"""The customer rules, pure so each is unit-tested alone: how an answer becomes a 0–100
satisfaction, where the top-spend line lies, and which segment a customer's facts put them in.

Annual spend (`CustomerFacts.annual_spend`): the sum of the customer's purchases of the last 365
days when the loop knows any order of theirs (`orders/domain.py`), else the annual spend their
channel reported on their tickets; the top-spend line is drawn over every customer with a known
spend, whether they ever filed a ticket or only ordered.

Precedence of segments, when several apply: churn_risk > high_value > new > potential. A customer
about to leave matters more than one who spends a lot (a big spender who is unhappy gets the
twice-weekly care, not the twice-monthly), and a big spender or a loyal one more than a newcomer.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ticketloop_shared.events import Dimension
from ticketloop_shared.vocabulary import Segment

# Why a customer is in `potential`: none of the other rules matched.
DEFAULT_REASON = "no_other_segment"


@dataclass(frozen=True)
class Profile:
    """What a ticket said about its customer when it was created."""

    at: datetime
    customer_since: date | None
    annual_spend: float | None
    preferred_channel: str | None


@dataclass(frozen=True)
class SegmentRules:
    """The thresholds of SPEC §5, each a setting (defaults in `RetrospectiveSettings`)."""

    new_for_months: int = 3
    loyal_after_months: int = 12
    top_spend_share: float = 0.2
    churn_silence_days: int = 90
    churn_satisfaction_below: float = 60.0
    recent_order_days: int = 90

    def reason_names(self) -> dict[str, str]:
        """The machine-readable reasons, named after the thresholds in force (with the defaults:
        `tenure_under_3m`, `tenure_over_12m`, `top_20pct_spend`, `no_interaction_90d`,
        `satisfaction_below_60`, `objection_open`)."""
        share = self.top_spend_share * 100
        return {
            "new": f"tenure_under_{self.new_for_months}m",
            "loyal": f"tenure_over_{self.loyal_after_months}m",
            "spend": f"top_{share:g}pct_spend",
            "silent": f"no_interaction_{self.churn_silence_days}d",
            "unhappy": f"satisfaction_below_{self.churn_satisfaction_below:g}",
            "objection": "objection_open",
            "recent_order": f"purchase_within_{self.recent_order_days}d",
            "rising": "spend_rising",
        }


@dataclass(frozen=True)
class CustomerFacts:
    """What the segment rules look at, as the read model holds it."""

    first_seen_at: datetime
    customer_since: date | None = None
    annual_spend: float | None = None
    last_interaction_at: datetime | None = None
    satisfaction: float | None = None
    open_objections: int = 0
    # Growth signals from their orders (`orders/domain.py`): purchases in the last
    # `recent_order_days`, and spend rising quarter on quarter.
    recent_purchases: int = 0
    spend_rising: bool = False

    @property
    def relationship_start(self) -> date:
        """The tenure start the customer gave, else the day the loop first saw them."""
        return relationship_start(self.customer_since, self.first_seen_at)


def relationship_start(customer_since: date | None, first_seen_at: datetime) -> date:
    """When the relationship began: the tenure start the customer gave (`customer_since` of their
    tickets), else the day (UTC) the loop first saw them."""
    return customer_since or first_seen_at.astimezone(UTC).date()


@dataclass(frozen=True)
class SegmentDecision:
    """A segment and every reason that puts the customer in it."""

    segment: Segment
    reasons: tuple[str, ...]


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day: 31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def segment_for(
    facts: CustomerFacts, *, now: datetime, spend_threshold: float | None, rules: SegmentRules
) -> SegmentDecision:
    """The segment a customer's facts put them in now, with every reason for it.

    - churn_risk: no customer interaction for `churn_silence_days` (counted from the first time
      the loop saw them when they never interacted), or satisfaction below the line, or an open
      objection;
    - high_value: an annual spend at or above the top-share line (`spend_threshold`, None while
      too few spends are known), or a relationship of more than `loyal_after_months`;
    - new: a relationship of less than `new_for_months`;
    - potential: everyone else, with the growth signals that apply as its reasons (a purchase in
      the last `recent_order_days`, spend rising quarter on quarter); without any, the reason is
      `no_other_segment`: the vocabulary has no fifth segment, so potential is also the remainder.
    """
    names = rules.reason_names()
    today = now.astimezone(UTC).date()
    churn: list[str] = []
    last = facts.last_interaction_at or facts.first_seen_at
    if now - last >= timedelta(days=rules.churn_silence_days):
        churn.append(names["silent"])
    if facts.satisfaction is not None and facts.satisfaction < rules.churn_satisfaction_below:
        churn.append(names["unhappy"])
    if facts.open_objections > 0:
        churn.append(names["objection"])
    if churn:
        return SegmentDecision(Segment.CHURN_RISK, tuple(churn))
    valuable: list[str] = []
    if in_top_spend(facts.annual_spend, spend_threshold):
        valuable.append(names["spend"])
    start = facts.relationship_start
    if today > add_months(start, rules.loyal_after_months):
        valuable.append(names["loyal"])
    if valuable:
        return SegmentDecision(Segment.HIGH_VALUE, tuple(valuable))
    if today < add_months(start, rules.new_for_months):
        return SegmentDecision(Segment.NEW, (names["new"],))
    growth = [names["recent_order"]] if facts.recent_purchases > 0 else []
    if facts.spend_rising:
        growth.append(names["rising"])
    return SegmentDecision(Segment.POTENTIAL, tuple(growth) or (DEFAULT_REASON,))


def in_top_spend(spend: float | None, threshold: float | None) -> bool:
    """A positive spend at or above the line (every customer tied at the line is in)."""
    return spend is not None and threshold is not None and spend > 0 and spend >= threshold


def top_spend_rank(known: int, share: float) -> int:
    """How many customers the top share holds: ceil(known × share), at least one (5 of 23 at 20%)."""
    return max(1, math.ceil(known * share - 1e-9))


def spend_threshold(spends: Iterable[float], *, share: float, min_customers: int) -> float | None:
    """The top-share line over every known annual spend: the spend of the customer ranked
    `top_spend_rank` from the top; None while fewer than `min_customers` spends are known.
    (retrospective computes the same in SQL over its read model; this is the definition.)"""
    ordered = sorted(spends, reverse=True)
    if len(ordered) < min_customers:
        return None
    return ordered[top_spend_rank(len(ordered), share) - 1]


# Satisfaction on one 0–100 scale, whatever the survey asked:
# - a per-ticket CSAT 1–5 maps linearly onto 0–100: (csat − 1) × 25 (1 → 0, 3 → 50, 5 → 100);
# - a relationship survey's `overall` dimension 1–10 is × 10 (1 → 10, 10 → 100), as SPEC §3 reads
#   "overall satisfaction 80 → 90/100" off that question;
# - without either, the mean of the other dimensions × 10, else the NPS answer 0–10 × 10.
# An answer with none of these says nothing about satisfaction (None).
def normalised_satisfaction(
    *, csat: int | None = None, dimensions: Mapping[Dimension, int] | None = None, nps: int | None = None
) -> float | None:
    """One answer's satisfaction on 0–100 (see the rule above)."""
    if csat is not None:
        return float((csat - 1) * 25)
    dims = dict(dimensions or {})
    if Dimension.OVERALL in dims:
        return float(dims[Dimension.OVERALL] * 10)
    if dims:
        return sum(dims.values()) * 10 / len(dims)
    if nps is not None:
        return float(nps * 10)
    return None


def satisfaction_of(latest_first: Sequence[float], *, window: int) -> float | None:
    """A customer's satisfaction: the average of their last `window` answers (newest first in
    `latest_first`), so one bad answer among good ones does not make a churn risk, but a run of
    them does; None without answers."""
    recent = list(latest_first[:window])
    return sum(recent) / len(recent) if recent else None
