"""The system reaching out on its own: a low score asks for a call-back, a due care contact for
a call. What each ticket says is `domain.py`'s; tickets opens it (numbered, sealed, announced
like any other, at most once per survey or care task)."""

from __future__ import annotations

from ticketloop_intake.proactive import domain
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared.events import CareTaskDueData, LowScoreData


async def call_back(uow: IntakeUnit, score: LowScoreData) -> None:
    """Open the urgent recovery ticket a low score asks for, linked to the ticket the survey was
    about when intake has it."""
    linked = await tickets.linked_ticket(uow, score.ticket_id)
    wanted = domain.recovery_for(score, linked_number=linked.number if linked else None)
    await tickets.open_proactive(uow, wanted, linked=linked)


async def care_contact(uow: IntakeUnit, task: CareTaskDueData) -> None:
    """Open the proactive ticket of a due care contact, routed like any other."""
    await tickets.open_proactive(uow, domain.care_for(task))
