"""The supervisor's page as the template draws it: counter numbers past the 20-minute limit stand
out with their wait and what to do, and each escalation offers reassign and transfer for its ticket."""

from __future__ import annotations

import re
from typing import Any

from ticketloop_shared.auth import Principal, Role
from ticketloop_workspace import pages
from ticketloop_workspace.domain import overdue_waits
from ticketloop_workspace.session import Session


def supervisor_session() -> Session:
    principal = Principal(sub="sup-fin", role=Role.SUPERVISOR, department="finance", jti="j", iat=0, exp=1)
    return Session(principal=principal, token="t", csrf="c" * 64)


def supervisor_page(**context: Any) -> str:
    values: dict[str, Any] = {
        "agents": [],
        "departments": [{"id": "technical", "name": "Technical"}],
        "due_soon": [],
        "breaches": [],
        "escalations": [],
        "counters": [],
        "waits": [],
        "notes": [],
        "ticket": "",
        **context,
    }
    response = pages.render(
        "supervisor.html", title="Supervisor", session=supervisor_session(), error=None, done=None, **values
    )
    return bytes(response.body).decode()


def create_entry(number: str, waited_minutes: float, *, exceeded: bool) -> dict[str, object]:
    return {
        "id": f"id-{number}",
        "number": number,
        "status": "waiting",
        "position": 1,
        "waited_seconds": waited_minutes * 60,
        "wait_exceeded": exceeded,
        "wait_exceeded_at": "2026-12-07T09:20:00Z" if exceeded else None,
    }


def test_a_number_waiting_past_the_limit_stands_out_with_its_wait_and_what_to_do() -> None:
    counters = [
        {
            "counter": "main",
            "waiting": 2,
            "entries": [create_entry("A007", 27, exceeded=True), create_entry("A008", 3, exceeded=False)],
        }
    ]
    html = supervisor_page(counters=counters, waits=overdue_waits(counters))
    waits = re.search(r'<div class="problem" id="waits".*?</div>', html, re.S)
    assert waits is not None
    assert "A007" in waits.group(0) and "27 min" in waits.group(0) and "A008" not in waits.group(0)
    assert "call A007 next at counter main" in waits.group(0) and "cancel the number" in waits.group(0)
    assert 'href="#wait-id-A007"' in html


def test_nothing_stands_out_when_nobody_waited_too_long() -> None:
    counters = [{"counter": "main", "waiting": 1, "entries": [create_entry("A008", 3, exceeded=False)]}]
    assert 'id="waits"' not in supervisor_page(counters=counters, waits=overdue_waits(counters))


def test_each_escalation_offers_reassign_and_transfer_of_its_ticket_and_the_forms_are_prefilled() -> None:
    escalation = {
        "ticket_id": "0b0f",
        "ticket_number": "T20261207000042",
        "clock": "first_response",
        "level": 3,
        "notify": "group",
        "group": "service-managers",
        "agent_id": "agent-fin-1",
        "escalated_at": "2026-12-07T09:00:00Z",
    }
    html = supervisor_page(escalations=[escalation], ticket="T20261207000042")
    assert 'href="/workspace/supervisor?ticket=T20261207000042#assign-form"' in html
    assert 'href="/workspace/supervisor?ticket=T20261207000042#transfer-form"' in html
    assert "group (service-managers)" in html
    assert html.count('value="T20261207000042"') == 2
    assert "style=" not in html and "<script>" not in html
