"""Which segment a customer is in, as far as routing can tell from a ticket (SPEC §5)."""

from __future__ import annotations

import calendar
from datetime import date

from ticketloop_shared.vocabulary import Segment

_KNOWN = frozenset(s.value for s in Segment)
# SPEC §5: new = relationship under 3 months; high-value = relationship over 12 months (or top spend).
NEW_FOR_MONTHS = 3
LOYAL_AFTER_MONTHS = 12


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day: 31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def segment_of(
    *,
    customer_since: date | None,
    annual_spend: float | None,
    today: date,
    high_value_spend: float,
    announced: str | None = None,
) -> Segment:
    """The segment routing ranks a ticket's customer by: the one retrospective last announced
    (`customer.segment_changed`, from the customer's whole history), else derived from the ticket.

    Derived, for a customer retrospective has not classified yet:

    - high_value: annual spend at or above `high_value_spend` (the setting standing in for "top
      20%", which needs every customer's spend), or a relationship of more than 12 months;
      a big spender counts as high-value from their first day;
    - new: a relationship of less than 3 months;
    - potential: everyone else, and customers the ticket says nothing about.

    Churn-risk (no interaction for 3 months, satisfaction under 60, an explicit objection) cannot
    be derived from one ticket: it comes only as announced.
    """
    if announced in _KNOWN:
        return Segment(announced)
    if annual_spend is not None and annual_spend >= high_value_spend:
        return Segment.HIGH_VALUE
    if customer_since is not None:
        if today > add_months(customer_since, LOYAL_AFTER_MONTHS):
            return Segment.HIGH_VALUE
        if today < add_months(customer_since, NEW_FOR_MONTHS):
            return Segment.NEW
    return Segment.POTENTIAL
