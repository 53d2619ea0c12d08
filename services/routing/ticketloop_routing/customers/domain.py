"""Which segment routing ranks a customer's ticket by. The segment rule itself (SPEC §5: new,
high-value, churn-risk, potential) has one home, retrospective's `customers/domain.py::segment_for`,
which sees the customer's whole history and every customer's spend; routing only keeps what it
announces (`customer.segment_changed`) and derives nothing from a ticket."""

from __future__ import annotations

from ticketloop_shared.vocabulary import Segment

_KNOWN = frozenset(s.value for s in Segment)

# A customer retrospective has announced nothing for yet is one the loop has only just met (its
# announcement follows the customer's first ticket within moments): routing ranks them as new,
# the segment retrospective itself gives a customer whose relationship starts now.
UNANNOUNCED = Segment.NEW


def segment_of(announced: str | None) -> Segment:
    """The segment routing ranks a ticket's customer by: the one retrospective last announced,
    else `UNANNOUNCED` (also for a value this version does not know)."""
    return Segment(announced) if announced in _KNOWN else UNANNOUNCED
