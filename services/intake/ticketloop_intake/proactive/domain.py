"""What a proactive ticket says and how urgent it is; pure, so it is unit-tested alone."""

from __future__ import annotations

from ticketloop_intake.tickets.schemas import ProactiveTicket
from ticketloop_shared.events import CareTaskDueData, LowScoreData, TicketOrigin
from ticketloop_shared.vocabulary import Category, Need, Urgency

# A low score is a problem in itself (SPEC §3): a person calls the customer back, first.
RECOVERY_URGENCY = Urgency.URGENT.value
CARE_URGENCY = Urgency.NORMAL.value
FALLBACK_CATEGORY = Category.OTHER.value
KNOWN_CATEGORIES = frozenset(c.value for c in Category)


def _category(value: str | None) -> str:
    return value if value in KNOWN_CATEGORIES else FALLBACK_CATEGORY


def recovery_for(score: LowScoreData, *, linked_number: str | None) -> ProactiveTicket:
    """The call-back a low score asks for, filed under the surveyed ticket's category."""
    scores = ", ".join(
        f"{name} {value}"
        for name, value in (("satisfaction", score.csat), ("overall", score.overall), ("NPS", score.nps))
        if value is not None
    )
    about = f"ticket {linked_number}" if linked_number else f"the {score.kind.value} survey"
    return ProactiveTicket(
        origin=TicketOrigin.RECOVERY,
        origin_id=str(score.survey_id),
        customer_id=score.customer_id,
        category=_category(score.category),
        need=Need.COMPLAINT.value,
        urgency=RECOVERY_URGENCY,
        subject=f"Call back: low score on {about}",
        description=(
            f"The customer answered {about} with a low score ({scores}; thresholds crossed: "
            f"{', '.join(score.reasons)}). Call them back, find out what went wrong and put it right."
        ),
        preferred_channel=score.preferred_channel,
    )


def care_for(task: CareTaskDueData) -> ProactiveTicket:
    """The care contact a cadence or anticipation rule made due."""
    return ProactiveTicket(
        origin=TicketOrigin.CARE,
        origin_id=str(task.task_id),
        customer_id=task.customer_id,
        category=_category(task.category),
        need=Need.INFORMATION.value,
        urgency=CARE_URGENCY,
        subject=f"Care contact: {task.rule}" + (f" (attempt {task.attempt})" if task.attempt > 1 else ""),
        description=(
            f"A {task.kind.value} care contact with this {task.segment.replace('_', '-')} customer is due "
            f"({task.rule}). Contact them on their preferred channel, record what they said and complete it "
            "with its outcome."
        ),
        preferred_channel=task.preferred_channel,
        due_at=task.due_at,
    )
