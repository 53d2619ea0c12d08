"""The ticket lifecycle and who may move it: every legal transition is listed here and nowhere
else, and so is the rule of which staff member may take which action; and which of sla's clocks
the read-back names as the ticket's deadlines."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Forbidden, InvalidTransition, Unprocessable
from ticketloop_shared.events import CareOutcome, ClockKind, ClockOutcome, ClockView, SlaClocksChangedData, TicketOrigin
from ticketloop_shared.vocabulary import TicketStatus

# The lifecycle's statuses are shared words (sla pauses clocks on them), declared once.
Status = TicketStatus


class Action(StrEnum):
    """What can happen to a ticket."""

    ASSIGN = "assign"
    REPLY = "reply"
    NOTE = "note"
    PLAN = "plan"
    UPDATE = "update"
    WAIT = "wait"
    CUSTOMER_MESSAGE = "customer_message"
    CHANGE_PRIORITY = "change_priority"
    RECATEGORISE = "recategorise"
    RESOLVE = "resolve"
    FOLLOW_UP = "follow_up"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    AUTO_CLOSE = "auto_close"


P, IP, W, R, C, RO = (
    Status.PENDING_ASSIGNMENT,
    Status.IN_PROGRESS,
    Status.WAITING_ON_CUSTOMER,
    Status.RESOLVED,
    Status.CLOSED,
    Status.REOPENED,
)
OPEN = frozenset({P, IP, W, RO})


def _stay(*statuses: Status) -> dict[Status, Status]:
    return {s: s for s in statuses}


_TRANSITIONS: dict[Action, dict[Status, Status]] = {
    # An assignment arriving after resolution (events may be late) records the owner only.
    Action.ASSIGN: {P: IP, RO: IP, **_stay(IP, W, R, C)},
    # A reply to a resolved ticket (a last word) leaves it resolved; a closed one is finished.
    Action.REPLY: {P: IP, RO: IP, **_stay(IP, W, R)},
    # Internal notes never change anything the customer sees.
    Action.NOTE: _stay(*Status),
    Action.PLAN: {P: IP, RO: IP, **_stay(IP, W)},
    Action.UPDATE: {P: IP, RO: IP, **_stay(IP, W)},
    Action.WAIT: {IP: W, RO: W},
    # The customer answering puts a waiting ticket back in progress; writing on a finished one
    # (within the reopen window, which the service checks) reopens it.
    Action.CUSTOMER_MESSAGE: {W: IP, R: RO, C: RO, **_stay(P, IP, RO)},
    Action.CHANGE_PRIORITY: _stay(*OPEN),
    Action.RECATEGORISE: _stay(*OPEN),
    Action.RESOLVE: dict.fromkeys(OPEN, R),
    Action.FOLLOW_UP: _stay(R, C),
    Action.CONFIRM: {R: C},
    Action.REOPEN: {R: RO, C: RO},
    Action.AUTO_CLOSE: {R: C},
}


def next_status(current: Status, action: Action) -> Status:
    """The status after `action`, or `InvalidTransition` (409) naming the current status."""
    try:
        return _TRANSITIONS[action][current]
    except KeyError:
        raise InvalidTransition(
            f"cannot {action.value.replace('_', ' ')} a ticket that is {current.value.replace('_', ' ')}",
            code=f"ticket_{current.value}",
            details={"status": current.value, "action": action.value},
        ) from None


def transitions(action: Action) -> dict[Status, Status]:
    """Every legal `from → to` of one action (for statements that apply the rule in SQL)."""
    return dict(_TRANSITIONS[action])


def check_care_outcome(origin: str, outcome: CareOutcome | None) -> None:
    """A care ticket is a task the agent completes with an outcome (reached, no answer, declined,
    follow-up needed): required when resolving one; any other ticket is a customer's problem, for
    which an outcome means nothing (both refused with 422)."""
    if origin == TicketOrigin.CARE.value and outcome is None:
        raise Unprocessable(
            "a care contact is completed with an outcome: reached, no_answer, declined or follow_up",
            code="care_outcome_required",
        )
    if origin != TicketOrigin.CARE.value and outcome is not None:
        raise Unprocessable(
            "only a care contact is completed with an outcome; this ticket is a customer's problem",
            code="care_outcome_not_applicable",
            details={"origin": origin},
        )


def within_reopen_window(resolved_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """A finished ticket can be reopened by the customer until `window` after its resolution."""
    return resolved_at is not None and now <= resolved_at + window


# Actions on the customer's problem itself: only its owner, or a supervisor of its department.
OWNER_ACTIONS = frozenset(
    {
        Action.REPLY,
        Action.PLAN,
        Action.UPDATE,
        Action.WAIT,
        Action.RESOLVE,
        Action.FOLLOW_UP,
        Action.CHANGE_PRIORITY,
        Action.RECATEGORISE,
    }
)


@dataclass(frozen=True)
class Custody:
    """Who holds a ticket: the department routing gave it to and its assigned agent."""

    department_id: str | None
    assignee_id: str | None


def check_access(staff: Principal, custody: Custody, action: Action | None = None) -> None:
    """Raise `Forbidden` (403, with the reason) unless `staff` may take `action` on the ticket
    (`None`: read it). An admin may do everything; an agent or supervisor reads and notes its
    department's tickets; only the assignee or a supervisor of the department acts on them."""
    if staff.role is Role.ADMIN:
        return
    if custody.department_id is None:
        raise Forbidden(
            "the ticket has not been routed to a department yet; only an admin may act on it now",
            code="ticket_not_routed",
        )
    if staff.department != custody.department_id:
        raise Forbidden(
            f"the ticket belongs to department {custody.department_id!r}, not yours",
            code="not_your_department",
            details={"department_id": custody.department_id},
        )
    if action in OWNER_ACTIONS and staff.role is not Role.SUPERVISOR and custody.assignee_id != staff.sub:
        raise Forbidden(
            f"only the ticket's assignee or a supervisor of its department may {action.value.replace('_', ' ')}",
            code="not_the_assignee",
            details={"assignee_id": custody.assignee_id, "action": action.value},
        )


class WorkOrder(StrEnum):
    """How a list of tickets is ordered (every order ends on the ticket id, so pages are stable).

    - `newest`: newest first (the default).
    - `priority`: what matters first: the highest priority score routing gave (VIPs, urgency,
      waiting time; none yet comes last), then the earliest due instant of a clock still owed
      (none comes last), then the oldest.
    - `due`: what falls due first: the earliest due instant (none comes last), then the highest
      score, then the oldest.
    """

    NEWEST = "newest"
    PRIORITY = "priority"
    DUE = "due"


_NOISE = re.compile(r"[^\w]+")


def _words(subject: str) -> list[str]:
    """The subject's words as every repeat-contact rule compares them: lower-cased, accents and
    punctuation dropped."""
    folded = unicodedata.normalize("NFKD", subject.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NOISE.sub(" ", plain).split()


def fingerprint(subject: str, *, key: bytes) -> str:
    """What recognises the same problem reported again: the subject lower-cased, accents,
    punctuation and words under three letters dropped, the rest sorted (so "Invoice is wrong!" and
    "wrong invoice" match), keyed with
    the customer's own data key (a plain hash of a short subject could be guessed back; after an
    erasure the fingerprints no longer match anything)."""
    words = sorted({w for w in _words(subject) if len(w) >= 3})
    return hmac.new(key, " ".join(words).encode(), hashlib.sha256).hexdigest()


# Kana, CJK ideographs and Hangul: written without spaces, so a "word" there is a whole phrase.
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _grams_of(word: str) -> list[str]:
    """pg_trgm's trigrams of one word (padded with two spaces before and one after, so "ab"
    gives "  a", " ab", "ab "); a word of CJK characters gives its character pairs instead."""
    if _CJK_CHAR.search(word):
        return [word] if len(word) == 1 else [word[i : i + 2] for i in range(len(word) - 1)]
    padded = f"  {word} "
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def subject_grams(subject: str, *, key: bytes) -> list[int]:
    """What recognises the same problem in other words: the trigrams of the subject's words, as
    pg_trgm takes them (lower-cased, accents and punctuation dropped), each kept only as a 32-bit
    HMAC under the customer's own key (a subject is personal: its trigrams in clear would spell
    it out again). Two subjects' similarity is pg_trgm's: shared trigrams over all trigrams
    (`similarity`, computed by `repository`)."""
    grams = {g for word in _words(subject) for g in _grams_of(word)}
    return sorted(
        int.from_bytes(hmac.new(key, g.encode(), hashlib.sha256).digest()[:4], "big", signed=True) for g in grams
    )


def subject_numbers(subject: str, *, key: bytes) -> list[int]:
    """The subject's words holding a digit (an order number, a date, a model), keyed like the
    trigrams. Similar wording links two reports only when these are the same: "order 1234 not
    delivered" and "order 5678 not delivered" are two problems, however alike their words."""
    numbers = {w for w in _words(subject) if any(ch.isdigit() for ch in w)}
    return sorted(
        int.from_bytes(hmac.new(key, f"#{n}".encode(), hashlib.sha256).digest()[:4], "big", signed=True)
        for n in numbers
    )


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """pg_trgm's similarity of two trigram sets: how many they share over how many they hold in
    all (1.0 for the same words in any order, 0.0 for nothing in common)."""
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 0.0


@dataclass(frozen=True)
class SlaClocks:
    """sla's latest publication about a ticket (`sla.clocks_changed`), as intake shows it: sla
    owns every deadline, intake computes none."""

    policy_id: str
    version: int
    clocks: tuple[ClockView, ...]

    def due(self, kind: ClockKind) -> datetime | None:
        """When `kind` falls due, for the read-back's deadlines: the due instant of its current
        (highest) cycle while that is still owed (running, or breached and not yet stopped);
        None while it is paused, once it has stopped (met, cancelled, or breached and then kept),
        or when sla runs no such clock for the ticket."""
        current = max((c for c in self.clocks if c.clock is kind), key=lambda c: c.cycle, default=None)
        if current is None or current.stopped_at is not None:
            return None
        return current.due_at if current.status in _OWED else None

    def next_due(self) -> tuple[datetime, ClockKind] | None:
        """What a work list orders by: the earliest due instant among the ticket's clocks still
        owed (as `due` reads each metric; a breached one, already past, comes first), and its
        metric; None when no clock runs (all paused, stopped, or none published)."""
        owed = [(due, kind) for kind in dict.fromkeys(c.clock for c in self.clocks) if (due := self.due(kind))]
        return min(owed, key=lambda pair: pair[0], default=None)


# Still counting: a breached cycle stays owed until the promise is kept, late.
_OWED = frozenset({ClockOutcome.RUNNING, ClockOutcome.BREACHED})


def newest_per_ticket(published: Sequence[SlaClocksChangedData]) -> list[SlaClocksChangedData]:
    """Each ticket's highest-version publication of a run, in ticket-id order (the order rows are
    then locked in): sla's publications repeat and arrive out of order, and only the newest one
    counts."""
    best: dict[uuid.UUID, SlaClocksChangedData] = {}
    for data in published:
        seen = best.get(data.ticket_id)
        if seen is None or data.version > seen.version:
            best[data.ticket_id] = data
    return [best[ticket_id] for ticket_id in sorted(best)]


def etag(version: int) -> str:
    """A ticket's staff version as an HTTP entity tag."""
    return f'"{version}"'


def matches_version(if_match: str, version: int) -> bool:
    """Whether an `If-Match` value names this version (`*` names any; a weak tag is accepted:
    the version covers what staff edit, not every byte of the representation)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return any(tag == "*" or tag == etag(version) for tag in tags)
