"""What a ticket the system opens itself says, and how urgent it is."""

from __future__ import annotations

from datetime import timedelta

from tests.builders import T0, Story
from ticketloop_intake.proactive.domain import care_for, recovery_for
from ticketloop_shared.events import TicketOrigin


def test_a_recovery_is_urgent_filed_under_the_surveyed_category_and_names_the_scores() -> None:
    score = Story(category="logistics_delay").low_score(T0, csat=1).data
    wanted = recovery_for(score, linked_number="W20261202000042")
    assert (wanted.origin, wanted.origin_id, wanted.urgency) == (TicketOrigin.RECOVERY, str(score.survey_id), "urgent")
    assert wanted.category == "logistics_delay" and wanted.need == "complaint"
    assert "W20261202000042" in wanted.subject
    assert "satisfaction 1" in wanted.description and "csat" in wanted.description


def test_a_recovery_of_a_relationship_survey_or_an_unknown_category_falls_back_to_other() -> None:
    score = Story().low_score(T0).data.model_copy(update={"category": "not-a-category", "ticket_id": None})
    wanted = recovery_for(score, linked_number=None)
    assert wanted.category == "other"
    assert "ticket survey" in wanted.subject


def test_a_care_contact_is_normal_priority_on_the_task_category() -> None:
    task = Story().care_task_due(T0 + timedelta(days=1), segment="high_value").data
    wanted = care_for(task)
    assert (wanted.origin, wanted.origin_id, wanted.urgency) == (TicketOrigin.CARE, str(task.task_id), "normal")
    assert wanted.category == "service_attitude" and "high-value" in wanted.description
    assert wanted.preferred_channel == "phone"
