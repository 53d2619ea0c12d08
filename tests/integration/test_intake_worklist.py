"""intake's work lists and search, over real HTTP on a real PostgreSQL and broker: tickets ordered
by routing's priority score and sla's next due instant, `assignee_id=me` and the unassigned
queue, lookup by number, search by words through the keyed token index (no plaintext in it, gone
with an erasure), and routing's reason on assignment entries."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    publish_and_apply,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.events import (
    AssignmentReason,
    ClockKind,
    ClockOutcome,
    ClockView,
    Envelope,
    SlaClocksChangedData,
    TicketAssignedData,
    TicketQueuedData,
)
from ticketloop_shared.settings import PlatformSettings
from ticketloop_shared.unit_of_work import build_event

HOME, AWAY = "after_sales", "support"


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    async with serve(create_app(settings)) as running:
        yield running


def supervisor(department: str = HOME) -> dict[str, str]:
    return agent_headers("sup-1", Role.SUPERVISOR, department=department)


async def new_ticket(intake: RunningService, **overrides: Any) -> dict[str, Any]:
    r = await intake.client.post("/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    return ticket


def reason(score: float | None, rule: str = "least_loaded", **extra: Any) -> AssignmentReason:
    return AssignmentReason.model_validate({"strategy": "least_loaded", "rule": rule, "score": score, **extra})


def assigned(
    ticket: dict[str, Any], agent: str, *, department: str = HOME, why: AssignmentReason | None = None
) -> Envelope:
    """`ticket.assigned` as routing publishes it."""
    data = TicketAssignedData(
        ticket_id=uuid.UUID(ticket["id"]),
        department_id=department,
        department_name=department.title(),
        agent_id=agent,
        agent_name=agent.title(),
        assigned_at=datetime.now(UTC),
        reason=why,
    )
    return build_event(data, source="routing", time=data.assigned_at)


def queued(ticket: dict[str, Any], score: float, *, department: str = HOME, at: datetime | None = None) -> Envelope:
    """`ticket.queued` as routing publishes it: nobody free, the ticket waits with its score."""
    data = TicketQueuedData(
        ticket_id=uuid.UUID(ticket["id"]),
        department_id=department,
        department_name=department.title(),
        score=score,
        queued_at=at or datetime.now(UTC),
        reason=reason(score, rule="no agent available"),
    )
    return build_event(data, source="routing", time=data.queued_at)


def clocks_changed(ticket: dict[str, Any], *clocks: tuple[ClockKind, ClockOutcome, float]) -> Envelope:
    """`sla.clocks_changed` with clocks due `minutes` after the ticket was created."""
    start = datetime.fromisoformat(ticket["created_at"])
    data = SlaClocksChangedData(
        ticket_id=uuid.UUID(ticket["id"]),
        version=1,
        policy_id="standard",
        policy_version=1,
        changed_at=start,
        clocks=[
            ClockView(
                clock=kind,
                cycle=1,
                status=status,
                started_at=start,
                due_at=None if status is ClockOutcome.PAUSED else start + timedelta(minutes=minutes),
                target_seconds=minutes * 60,
            )
            for kind, status, minutes in clocks
        ],
    )
    return build_event(data, source="sla", time=start)


async def listed(intake: RunningService, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await intake.client.get("/v1/tickets", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    items: list[dict[str, Any]] = body["items"]
    assert body["total"] >= len(items)
    return items


async def numbers(intake: RunningService, headers: dict[str, str], **params: Any) -> list[str]:
    return [t["number"] for t in await listed(intake, headers, **params)]


async def test_priority_goes_by_score_then_due_then_oldest_and_due_by_due_first(
    intake: RunningService, platform: PlatformSettings
) -> None:
    low_late = await new_ticket(intake)
    high_latest = await new_ticket(intake)
    low_soon = await new_ticket(intake)
    unscored_old = await new_ticket(intake)
    unscored_new = await new_ticket(intake)
    running, paused = ClockOutcome.RUNNING, ClockOutcome.PAUSED
    await publish_and_apply(
        intake,
        platform,
        [
            assigned(low_late, "agent-a", why=reason(10.0)),
            assigned(high_latest, "agent-b", why=reason(50.0)),
            assigned(low_soon, "agent-a", why=reason(10.0)),
            assigned(unscored_old, "agent-c"),
            assigned(unscored_new, "agent-c"),
            clocks_changed(low_late, (ClockKind.FIRST_RESPONSE, running, 60), (ClockKind.RESOLUTION, running, 240)),
            clocks_changed(high_latest, (ClockKind.RESOLUTION, running, 120)),
            # A met clock's due instant no longer counts, nor a paused one's.
            clocks_changed(low_soon, (ClockKind.ACKNOWLEDGEMENT, running, 30), (ClockKind.RESOLUTION, paused, 5)),
            clocks_changed(unscored_old, (ClockKind.RESOLUTION, paused, 5)),
            # Issue 20: every ticket has deadlines from its acceptance (intake's version 0), so
            # the last one needs sla's publication too for the two to tie on "no running due".
            clocks_changed(unscored_new, (ClockKind.RESOLUTION, paused, 5)),
        ],
    )
    order = [t["number"] for t in (high_latest, low_soon, low_late, unscored_old, unscored_new)]
    assert await numbers(intake, supervisor(), sort="priority") == order
    by_due = [t["number"] for t in (low_soon, low_late, high_latest, unscored_old, unscored_new)]
    assert await numbers(intake, supervisor(), sort="due") == by_due
    # The default is unchanged: newest first.
    newest = [t["number"] for t in (unscored_new, unscored_old, low_soon, high_latest, low_late)]
    assert await numbers(intake, supervisor()) == newest
    assert await numbers(intake, supervisor(), sort="newest") == newest

    items = {t["number"]: t for t in await listed(intake, supervisor(), sort="priority")}
    soon = items[low_soon["number"]]
    assert soon["priority_score"] == 10.0
    assert soon["next_due_clock"] == "acknowledgement"
    assert datetime.fromisoformat(soon["next_due_at"]) == datetime.fromisoformat(low_soon["created_at"]) + timedelta(
        minutes=30
    )
    assert items[low_late["number"]]["next_due_clock"] == "first_response"
    assert (items[unscored_old["number"]]["priority_score"], items[unscored_old["number"]]["next_due_at"]) == (
        None,
        None,
    )
    # Pages follow the order.
    second = await listed(intake, supervisor(), sort="priority", limit=2, offset=2)
    assert [t["number"] for t in second] == order[2:4]
    r = await intake.client.get("/v1/tickets", params={"sort": "loudest"}, headers=supervisor())
    assert r.status_code == 422


async def test_a_page_past_the_end_still_counts_the_total(intake: RunningService, platform: PlatformSettings) -> None:
    ticket = await new_ticket(intake)
    await publish_and_apply(intake, platform, [assigned(ticket, "agent-a")])
    r = await intake.client.get("/v1/tickets", params={"offset": 5}, headers=supervisor())
    assert r.status_code == 200
    assert (r.json()["items"], r.json()["total"]) == ([], 1)


async def test_my_tickets_and_the_unassigned_queue(intake: RunningService, platform: PlatformSettings) -> None:
    mine = await new_ticket(intake)
    theirs = await new_ticket(intake)
    waiting = await new_ticket(intake)
    waiting_elsewhere = await new_ticket(intake)
    await publish_and_apply(
        intake,
        platform,
        [
            assigned(mine, "agent-a", why=reason(20.0)),
            assigned(theirs, "agent-b"),
            queued(waiting, 30.0),
            queued(waiting_elsewhere, 90.0, department=AWAY),
        ],
    )
    agent_a = agent_headers("agent-a", department=HOME)
    assert await numbers(intake, agent_a, assignee_id="me") == [mine["number"]]
    assert await numbers(intake, agent_a, assignee_id="me", sort="priority") == [mine["number"]]
    assert await numbers(intake, agent_headers("agent-b", department=HOME), assignee_id="me") == [theirs["number"]]
    # The queue: unassigned tickets of the caller's department only, with their score.
    [in_queue] = await listed(intake, agent_a, unassigned="true", sort="priority")
    assert (in_queue["number"], in_queue["assignee_id"], in_queue["priority_score"]) == (waiting["number"], None, 30.0)
    assert await numbers(intake, admin_headers(), unassigned="true", sort="priority") == [
        waiting_elsewhere["number"],
        waiting["number"],
    ]
    # A channel never sees routing's score.
    channel_items = (await intake.client.get("/v1/channel/tickets", headers=channel_headers())).json()["items"]
    assert {t["priority_score"] for t in channel_items} == {None}


async def test_a_ticket_is_found_by_its_number_with_the_same_access_rule_as_by_id(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ours = await new_ticket(intake)
    elsewhere = await new_ticket(intake)
    await publish_and_apply(
        intake, platform, [assigned(ours, "agent-a"), assigned(elsewhere, "agent-z", department=AWAY)]
    )
    agent = agent_headers("agent-b", department=HOME)

    r = await intake.client.get(f"/v1/tickets/by-number/{ours['number']}", headers=agent)
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["subject"]) == (ours["id"], ours["subject"])
    # As a customer might quote it.
    r = await intake.client.get(f"/v1/tickets/by-number/{ours['number'].lower()}", headers=agent)
    assert r.status_code == 200 and r.json()["id"] == ours["id"]

    r = await intake.client.get("/v1/tickets/by-number/T19990101000001", headers=agent)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "ticket_not_found")

    r = await intake.client.get(f"/v1/tickets/by-number/{elsewhere['number']}", headers=agent)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_your_department")
    r = await intake.client.get(f"/v1/tickets/by-number/{elsewhere['number']}", headers=admin_headers())
    assert r.status_code == 200

    # The list's exact-number filter, scoped like the rest of the list.
    assert await numbers(intake, agent, number=ours["number"]) == [ours["number"]]
    assert await numbers(intake, agent, number=elsewhere["number"]) == []


async def _search_fixture(intake: RunningService, platform: PlatformSettings) -> dict[str, dict[str, Any]]:
    tickets = {
        "printer": await new_ticket(
            intake, subject="Printer jammed", description="The office printer jams on every invoice."
        ),
        "invoice": await new_ticket(
            intake, subject="Invoice wrong", description="Charged twice: invoice 1234 shows the amount twice."
        ),
        "chinese": await new_ticket(intake, subject="打印机坏了", description="办公室的打印机不能打印。"),
        "french": await new_ticket(intake, subject="Remboursement refusé", description="Ma carte a été débitée."),
        "elsewhere": await new_ticket(intake, subject="Printer invoice", description="Another department's printer."),
    }
    await publish_and_apply(
        intake,
        platform,
        [assigned(t, "agent-a") for name, t in tickets.items() if name != "elsewhere"]
        + [assigned(tickets["elsewhere"], "agent-z", department=AWAY)],
    )
    return tickets


async def test_search_by_words_finds_tickets_having_every_word(
    intake: RunningService, platform: PlatformSettings
) -> None:
    t = await _search_fixture(intake, platform)
    agent = agent_headers("agent-b", department=HOME)

    async def found(q: str, headers: dict[str, str] = agent) -> set[str]:
        return set(await numbers(intake, headers, q=q))

    assert await found("printer") == {t["printer"]["number"]}
    assert await found("invoice") == {t["printer"]["number"], t["invoice"]["number"]}
    # Every word must match (AND), in any case, with or without accents.
    assert await found("INVOICE printer") == {t["printer"]["number"]}
    assert await found("invoice charged 1234") == {t["invoice"]["number"]}
    assert await found("invoice scanner") == set()
    assert await found("REFUSE debitee") == {t["french"]["number"]}
    assert await found("remboursement débitée") == {t["french"]["number"]}
    # Chinese, written without spaces, by character pairs.
    assert await found("打印机") == {t["chinese"]["number"]}
    assert await found("打印") == {t["chinese"]["number"]}
    assert await found("扫描仪") == set()
    # Whole words only.
    assert await found("print") == set()
    # Another department's ticket is never found by its staff's search; an admin finds both.
    assert await found("printer", admin_headers()) == {t["printer"]["number"], t["elsewhere"]["number"]}
    # Search combines with the other filters and orders.
    assert await numbers(intake, agent, q="invoice", assignee_id="agent-a", sort="priority") == [
        t["printer"]["number"],
        t["invoice"]["number"],
    ]
    page = (await intake.client.get("/v1/tickets", params={"q": "invoice", "limit": 1}, headers=agent)).json()
    assert (len(page["items"]), page["total"]) == (1, 2)

    r = await intake.client.get("/v1/tickets", params={"q": "the of a"}, headers=agent)
    assert (r.status_code, r.json()["error"]["code"]) == (422, "no_search_words")


async def _word_rows(intake: RunningService, ticket_id: str | None = None) -> list[bytes]:
    async with intake.runtime.engine.connect() as conn:
        if ticket_id is None:
            rows = await conn.execute(text("SELECT token FROM ticket_words"))
        else:
            rows = await conn.execute(
                text("SELECT token FROM ticket_words WHERE ticket_id = :id"), {"id": uuid.UUID(ticket_id)}
            )
        return [bytes(r[0]) for r in rows]


async def test_the_index_holds_no_plaintext_word(intake: RunningService, platform: PlatformSettings) -> None:
    t = await _search_fixture(intake, platform)
    rows = await _word_rows(intake)
    assert rows and {len(r) for r in rows} == {32}
    words = ["printer", "jammed", "office", "invoice", "charged", "1234", "remboursement", "refuse", "打印", "打印机"]
    async with intake.runtime.engine.connect() as conn:
        for word in words:
            for form in {word, word.upper(), word.title()}:
                hits = await conn.scalar(
                    text("SELECT count(*) FROM ticket_words WHERE position(convert_to(:w, 'UTF8') IN token) > 0"),
                    {"w": form},
                )
                assert hits == 0, form
    # Nor a plain (unkeyed) hash of one.
    plain = {hashlib.sha256(w.encode()).digest() for w in words}
    assert not plain & set(rows)
    # One row per distinct word ("the" and "on" are stop words).
    printer_words = {"printer", "jammed", "office", "jams", "every", "invoice"}
    assert len(await _word_rows(intake, t["printer"]["id"])) == len(printer_words)


async def test_erasure_deletes_the_customers_index_rows_and_search_no_longer_finds_them(
    intake: RunningService, platform: PlatformSettings
) -> None:
    erased = await new_ticket(
        intake,
        customer={"id": "cust-erase-me", "name": "Erin Erased"},
        subject="Router blinking",
        description="The router blinks orange since Monday.",
    )
    kept = await new_ticket(intake, subject="Router dead", description="No light at all on the router.")
    await publish_and_apply(intake, platform, [assigned(erased, "agent-a"), assigned(kept, "agent-a")])
    agent = agent_headers("agent-a", department=HOME)
    assert set(await numbers(intake, agent, q="router")) == {erased["number"], kept["number"]}
    assert await _word_rows(intake, erased["id"])

    r = await intake.client.delete("/v1/customers/cust-erase-me/personal-data", headers=admin_headers())
    assert r.status_code == 204, r.text

    assert await _word_rows(intake, erased["id"]) == []
    assert await _word_rows(intake, kept["id"])
    assert await numbers(intake, agent, q="router") == [kept["number"]]
    assert await numbers(intake, agent, q="blinking orange") == []
    # The ticket itself stays, and is still found by its number.
    r = await intake.client.get(f"/v1/tickets/by-number/{erased['number']}", headers=agent)
    assert (r.status_code, r.json()["subject"]) == (200, "[erased]")


async def test_assignment_entries_carry_routings_reason_for_staff_only(
    intake: RunningService, platform: PlatformSettings
) -> None:
    ticket = await new_ticket(intake)
    by_hand = reason(42.0, rule="assigned_by", actor="supervisor:sup-1", note="speaks Dutch")
    await publish_and_apply(intake, platform, [queued(ticket, 41.0), assigned(ticket, "agent-a", why=by_hand)])

    shown = (await intake.client.get(f"/v1/tickets/{ticket['id']}", headers=supervisor())).json()
    entries = {e["kind"]: e for e in shown["timeline"]}
    assert entries["queued"]["reason"]["rule"] == "no agent available"
    assert entries["queued"]["reason"]["score"] == 41.0
    given = entries["assigned"]["reason"]
    assert (given["rule"], given["strategy"], given["score"]) == ("assigned_by", "least_loaded", 42.0)
    if "actor" in AssignmentReason.model_fields:  # routing's optional fields, once they exist
        assert (given["actor"], given["note"]) == ("supervisor:sup-1", "speaks Dutch")
    assert entries["created"]["reason"] is None
    [item] = await listed(intake, supervisor())
    assert item["priority_score"] == 42.0

    # The channel sees that the ticket was assigned, not why (a supervisor's note is internal).
    r = await intake.client.get(f"/v1/channel/tickets/{ticket['id']}", headers=channel_headers())
    assert {e["kind"]: e["reason"] for e in r.json()["timeline"]}["assigned"] is None


async def test_a_ticket_transferred_into_a_busy_department_leaves_its_owner_and_waits_there(
    intake: RunningService, platform: PlatformSettings
) -> None:
    moved = await new_ticket(intake)
    stayed = await new_ticket(intake)
    before = datetime.now(UTC) - timedelta(minutes=5)
    await publish_and_apply(
        intake,
        platform,
        [
            assigned(moved, "agent-a"),
            assigned(stayed, "agent-a"),
            # A transfer after the assignment: nobody is free in the other department.
            queued(moved, 50.0, department=AWAY),
            # A queue event older than the assignment (arriving late) changes nothing.
            queued(stayed, 10.0, department=AWAY, at=before),
        ],
    )
    agent_a = agent_headers("agent-a", department=HOME)
    assert await numbers(intake, agent_a, assignee_id="me") == [stayed["number"]]
    away = agent_headers("agent-z", department=AWAY)
    assert await numbers(intake, away, unassigned="true") == [moved["number"]]
    shown = await intake.client.get(f"/v1/tickets/{moved['id']}", headers=away)
    assert (shown.status_code, shown.json()["assignee"]) == (200, None)
    assert (await intake.client.get(f"/v1/tickets/{moved['id']}", headers=agent_a)).status_code == 403
