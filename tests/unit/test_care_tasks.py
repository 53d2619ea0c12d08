"""Care as care (issue 22, item 2), rule by rule: a care contact is a task with a due date and an
outcome; it runs no customer-response clocks; a contact that reached the customer is an
interaction; unanswered attempts back off and stop, recorded `unreachable`; the workspace asks
for the outcome with a form a keyboard can work."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ticketloop_intake.tickets.domain import check_care_outcome
from ticketloop_retrospective.care.domain import UNREACHABLE, Retries, counts_as_interaction
from ticketloop_shared.auth import Principal, Role
from ticketloop_shared.errors import Unprocessable
from ticketloop_shared.events import CareOutcome, TicketCreatedData, TicketOrigin
from ticketloop_sla.clocks import rules
from ticketloop_slarules.policies import FALLBACK, Rules
from ticketloop_workspace import pages
from ticketloop_workspace.domain import CARE_OUTCOMES, is_care_task, overdue, resolve_body
from ticketloop_workspace.session import Session

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def create_ref(origin: TicketOrigin) -> TicketCreatedData:
    return TicketCreatedData(
        ticket_id=uuid.uuid4(),
        number="T1",
        channel="proactive",
        category="other",
        urgency="normal",
        customer_id="cus_1",
        created_at=T0,
        need="information",
        origin=origin,
        due_at=T0 + DAY if origin is TicketOrigin.CARE else None,
    )


# --- sla: no customer-response clocks --------------------------------------------------------


def test_a_care_ticket_starts_no_clock_whatever_happens_to_it() -> None:
    r = Rules(policies=[FALLBACK], calendars={}, version=1)
    care = rules.from_ref(create_ref(TicketOrigin.CARE))
    rules.begin(care, r)
    rules.message_received(care, r, at=T0 + timedelta(minutes=1))
    rules.answered(care, r, at=T0 + timedelta(minutes=2))
    rules.resolved(care, r, at=T0 + timedelta(minutes=3), first_response_at=None, self_service=False)
    rules.reopened(care, r, at=T0 + timedelta(minutes=4))
    assert care.clocks == {}
    problem = rules.from_ref(create_ref(TicketOrigin.CUSTOMER))
    rules.begin(problem, r)
    assert problem.clocks  # a customer's problem runs its clocks as before


def test_only_care_is_exempt_from_customer_response_clocks() -> None:
    assert not rules.runs_customer_clocks(TicketOrigin.CARE.value)
    assert rules.runs_customer_clocks(TicketOrigin.CUSTOMER.value)
    assert rules.runs_customer_clocks(TicketOrigin.RECOVERY.value)  # a call-back after a low score is urgent


# --- intake: the outcome completes a care ticket, and only a care ticket ----------------------


def test_an_outcome_is_required_on_a_care_ticket_and_refused_on_any_other() -> None:
    with pytest.raises(Unprocessable) as required:
        check_care_outcome("care", None)
    assert required.value.code == "care_outcome_required"
    with pytest.raises(Unprocessable) as refused:
        check_care_outcome("customer", CareOutcome.REACHED)
    assert refused.value.code == "care_outcome_not_applicable"
    check_care_outcome("care", CareOutcome.NO_ANSWER)
    check_care_outcome("recovery", None)


# --- retrospective: interaction, back-off, stop ----------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "answered"),
    [
        (CareOutcome.REACHED, True),
        (CareOutcome.DECLINED, True),
        (CareOutcome.FOLLOW_UP, True),
        (CareOutcome.NO_ANSWER, False),
        (None, False),
    ],
)
def test_a_care_contact_is_an_interaction_when_the_customer_answered(
    outcome: CareOutcome | None, answered: bool
) -> None:
    assert counts_as_interaction(outcome) is answered


def test_unanswered_attempts_back_off_one_two_four_days_then_stop() -> None:
    retries = Retries(first_after=DAY, factor=2.0, max_attempts=4)
    assert retries.after_no_answer(1, at=T0) == T0 + DAY
    assert retries.after_no_answer(2, at=T0) == T0 + 2 * DAY
    assert retries.after_no_answer(3, at=T0) == T0 + 4 * DAY
    assert retries.after_no_answer(4, at=T0) is None


def test_the_last_allowed_attempt_unanswered_is_recorded_unreachable() -> None:
    retries = Retries()  # three attempts by default
    assert retries.recorded(CareOutcome.NO_ANSWER, attempt=1) == "no_answer"
    assert retries.recorded(CareOutcome.NO_ANSWER, attempt=2) == "no_answer"
    assert retries.recorded(CareOutcome.NO_ANSWER, attempt=3) == UNREACHABLE
    assert retries.after_no_answer(3, at=T0) is None
    assert retries.recorded(CareOutcome.REACHED, attempt=3) == "reached"
    assert retries.recorded(None, attempt=1) is None


# --- workspace: the care task's page and list ------------------------------------------------


def agent_session() -> Session:
    principal = Principal(sub="agent-1", role=Role.AGENT, department="after_sales", jti="j", iat=0, exp=1)
    return Session(principal=principal, token="t", csrf="c" * 64)


def test_the_resolve_form_sends_the_outcome_only_when_one_was_chosen() -> None:
    assert resolve_body({"resolution": "Spoke to her", "outcome": "reached"}) == {
        "resolution": "Spoke to her",
        "outcome": "reached",
    }
    assert resolve_body({"resolution": "Refunded", "outcome": ""}) == {"resolution": "Refunded"}
    assert is_care_task({"origin": "care"}) and not is_care_task({"origin": "customer"})
    assert overdue(T0, T0 + DAY) and not overdue(T0 + DAY, T0) and not overdue(None, T0)


def test_the_care_list_shows_due_dates_and_a_labelled_outcome_form_per_open_task() -> None:
    open_task = {
        "id": "11111111-1111-1111-1111-111111111111",
        "number": "T1",
        "subject": "Care contact: cadence:churn_risk <b>",
        "status": "in_progress",
        "due_at": "2026-11-24T09:00:00Z",
        "open": True,
        "overdue": True,
    }
    done_task = {**open_task, "id": "22222222-2222-2222-2222-222222222222", "number": "T2", "status": "resolved"}
    done_task.update(open=False, overdue=False, outcome="no_answer")
    response = pages.render(
        "care.html",
        title="Care tasks",
        session=agent_session(),
        current="care",
        error=None,
        done=None,
        page={"items": [open_task, done_task], "offset": 0, "limit": 25, "total": 2},
        previous=None,
        following=None,
        offset=0,
        care_outcomes=CARE_OUTCOMES,
        idempotency_key="k",
    )
    html = bytes(response.body).decode()
    assert "&lt;b&gt;" in html and "<b>" not in html  # autoescaped
    assert 'datetime="2026-11-24T09:00:00Z"' in html
    assert 'id="overdue-11111111-1111-1111-1111-111111111111"' in html
    # one form, for the open task: a labelled required select and a labelled text field
    assert html.count('class="care-outcome"') == 1
    assert '<label for="outcome-11111111-1111-1111-1111-111111111111">Outcome</label>' in html
    assert re.search(r'<select id="outcome-11111111[^>]*name="outcome" required>', html)
    assert all(f'value="{v}"' in html for v, _ in CARE_OUTCOMES)
    assert "No answer" in html
    assert 'id="nav-care"' in html and 'aria-current="page"' in html
