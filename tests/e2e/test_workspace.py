"""The staff workspace over real HTTP in front of the real services (separate processes, started
by the supervisor code of `make run`): sign-in with the API's tokens, CSRF and Origin on every
form, the CSP on every page, each screen with real data for an agent and a supervisor, actions
that land in intake, refusals shown with the API's reason, and a token the services refuse ends
the session."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import TEST_SECRET, channel_headers, create_ticket_body, eventually, running_stack
from ticketloop_embedded.stack import Stack
from ticketloop_shared.auth import Role, issue_token
from ticketloop_workspace.domain import CONTENT_SECURITY_POLICY, COOKIE

# A lane of its own beside the other stacks: one stack for the whole module, started once.
pytestmark = pytest.mark.xdist_group("e2e-workspace")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack("ticketloop-workspace-", workspace=True) as running:
        yield running


def token(sub: str, role: Role = Role.AGENT, *, ttl: int = 3600, now: float | None = None) -> str:
    department = "finance" if role is not Role.ADMIN else None
    return issue_token(TEST_SECRET, sub=sub, role=role, name=sub, department=department, ttl_seconds=ttl, now=now)


def base(stack: Stack) -> str:
    return stack.services["workspace"].url


def browser(stack: Stack) -> httpx.AsyncClient:
    """A client that behaves like a browser on the workspace's origin (cookies, Origin header)."""
    url = base(stack)
    return httpx.AsyncClient(base_url=url, timeout=30, headers={"Origin": url})


async def sign_in(client: httpx.AsyncClient, raw: str) -> httpx.Response:
    return await client.post("/workspace/login", data={"token": raw, "next": "/workspace"})


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def idempotency_of(page: str) -> str:
    found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


async def new_ticket(stack: Stack, **overrides: Any) -> dict[str, Any]:
    """A billing ticket (finance) from a channel, once routing has given it an owner."""
    intake = stack.services["intake"].url
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{intake}/v1/tickets", json=create_ticket_body(**overrides), headers=channel_headers())
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}

        async def owned() -> dict[str, Any] | None:
            t = (await http.get(f"{intake}/v1/tickets/{ticket_id}", headers=admin)).json()
            return t if t.get("assignee") else None

        ticket: dict[str, Any] = await eventually(owned, timeout=30)
        return ticket


async def test_sign_in_needs_a_good_unexpired_staff_token(stack: Stack) -> None:
    async with browser(stack) as client:
        r = await client.get("/workspace")
        assert r.status_code == 303 and r.headers["location"].startswith("/workspace/login")
        r = await sign_in(client, "not-a-token")
        assert r.status_code == 401 and "not valid" in r.text
        expired = token("agent-fin-1", ttl=60, now=time.time() - 3600)
        r = await sign_in(client, expired)
        assert r.status_code == 401 and "expired" in r.text
        assert COOKIE not in client.cookies
        r = await sign_in(client, token("agent-fin-1"))
        assert r.status_code == 303 and r.headers["location"] == "/workspace"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/workspace" in cookie
        r = await client.get("/workspace")
        assert r.status_code == 200 and "My work" in r.text, r.text


async def test_every_page_has_the_csp_and_no_inline_script_or_style(stack: Stack) -> None:
    ticket = await new_ticket(stack)
    async with browser(stack) as client:
        assert (await client.get("/workspace/login")).headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        for path in (
            "/workspace",
            "/workspace/queue",
            f"/workspace/tickets/{ticket['id']}",
            "/workspace/search?q=charged",
            "/workspace/presence",
            "/workspace/supervisor",
            "/workspace/fragments/my-work",
            f"/workspace/fragments/ticket/{ticket['id']}",
        ):
            r = await client.get(path)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:500]}"
            assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "<script>" not in r.text and "style=" not in r.text and "<style" not in r.text, path
            assert not re.search(r"\son[a-z]+=", r.text), path


async def test_a_form_without_the_sessions_token_or_from_another_site_is_refused(stack: Stack) -> None:
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        page = (await client.get("/workspace/presence")).text
        good = csrf_of(page)
        r = await client.post("/workspace/presence", data={"presence": "away"})
        assert r.status_code == 403
        r = await client.post("/workspace/presence", data={"presence": "away", "csrf": "0" * 64})
        assert r.status_code == 403
        r = await client.post(
            "/workspace/presence", data={"presence": "away", "csrf": good}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 403
        # A token from another session is worthless here.
        async with browser(stack) as other:
            await sign_in(other, token("sup-fin", Role.SUPERVISOR))
            r = await other.post("/workspace/logout", data={"csrf": good})
            assert r.status_code == 403
        r = await client.post("/workspace/logout", data={"csrf": good})
        assert r.status_code == 303 and r.headers["location"] == "/workspace/login"


async def test_an_agent_sees_its_ticket_replies_and_resolves_it_through_the_workspace(stack: Stack) -> None:
    ticket = await new_ticket(stack, subject="Charged twice for March")
    owner = ticket["assignee"]["agent_id"]
    intake = stack.services["intake"].url
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        my_work = (await client.get("/workspace")).text
        assert ticket["number"] in my_work and 'data-live-fragment="/workspace/fragments/my-work' in my_work
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert f'data-live-ticket="{ticket["id"]}"' in page
        assert "Charged twice for March" in page and ticket["customer"]["contact_masked"] in page
        form = {"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "body": "We refund the second charge."}
        r = await client.post(f"/workspace/tickets/{ticket['id']}/reply", data=form)
        assert r.status_code == 303 and r.headers["location"].endswith("done=reply")
        assert "Reply sent." in (await client.get(r.headers["location"])).text
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        r = await client.post(
            f"/workspace/tickets/{ticket['id']}/resolve",
            data={"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "resolution": "Refunded."},
        )
        assert r.status_code == 303
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
        async with httpx.AsyncClient(timeout=30) as http:
            landed = (await http.get(f"{intake}/v1/tickets/{ticket['id']}", headers=admin)).json()
        assert landed["status"] == "resolved"
        assert any(e["kind"] == "reply" and e["body"] == "We refund the second charge." for e in landed["timeline"])
        # Resolved: waiting on the customer is no longer offered, and a forced post shows intake's reason.
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert re.search(r'id="form-wait".*?<fieldset disabled', page, re.S)
        r = await client.post(
            f"/workspace/tickets/{ticket['id']}/wait",
            data={"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "body": "Which card?"},
        )
        assert r.status_code == 409
        assert "cannot wait a ticket that is resolved" in r.text and "ticket_resolved" in r.text


async def test_the_urgency_form_changes_the_version_it_was_read_at_and_no_other(stack: Stack) -> None:
    """The form carries the ticket's version: a change made meanwhile by someone else is shown as
    refused (412), never silently undone."""
    ticket = await new_ticket(stack, subject="Charged twice for April")
    owner = ticket["assignee"]["agent_id"]
    intake = stack.services["intake"].url
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert re.search(r'id="form-change_urgency".*?name="version" value="1"', page, re.S)
        form = {"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "version": "1"}
        r = await client.post(f"/workspace/tickets/{ticket['id']}/change_urgency", data={**form, "urgency": "urgent"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=change_urgency")
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        stale = {"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "version": "1"}
        r = await client.post(
            f"/workspace/tickets/{ticket['id']}/change_urgency", data={**stale, "urgency": "critical"}
        )
        assert r.status_code == 412 and "ticket_changed" in r.text
    admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
    async with httpx.AsyncClient(timeout=30) as http:
        landed = (await http.get(f"{intake}/v1/tickets/{ticket['id']}", headers=admin)).json()
    assert (landed["urgency"], landed["version"]) == ("urgent", 2)


async def test_the_screens_show_real_data_for_a_supervisor(stack: Stack) -> None:
    ticket = await new_ticket(stack, subject="Invoice total wrong")
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        queue = await client.get("/workspace/queue")
        assert queue.status_code == 200 and "Waiting tickets" in queue.text
        r = await client.get("/workspace/search", params={"q": ticket["number"]})
        assert r.status_code == 303 and r.headers["location"] == f"/workspace/tickets/{ticket['id']}"
        found = await client.get("/workspace/search", params={"customer_id": ticket["customer"]["id"]})
        assert ticket["number"] in found.text
        supervisor = await client.get("/workspace/supervisor")
        assert supervisor.status_code == 200 and "Team load and presence" in supervisor.text
        assert ticket["assignee"]["agent_id"] in supervisor.text
        # routing refuses an assignment it cannot make: the page shows its reason.
        r = await client.post(
            "/workspace/supervisor/assign",
            data={"csrf": csrf_of(supervisor.text), "ticket": ticket["number"], "agent_id": "nobody-here"},
        )
        assert 400 <= r.status_code < 500 and 'role="alert"' in r.text


async def test_a_token_the_services_refuse_signs_the_person_out(stack: Stack) -> None:
    # Valid here (signature, expiry), then revoked: the services refuse it with 401.
    routing = stack.services["routing"].url
    raw = token("agent-fin-revoked")
    async with browser(stack) as client:
        assert (await sign_in(client, raw)).status_code == 303
        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{routing}/v1/token-revocations", json={"sub": "agent-fin-revoked"}, headers=admin)
            assert r.status_code == 201, r.text

        async def signed_out() -> bool:
            r = await client.get("/workspace")
            return r.status_code == 303 and "session_ended" in r.headers["location"]

        await eventually(signed_out, timeout=20)
        assert COOKIE not in client.cookies


async def test_an_unreachable_service_shows_service_unavailable_not_a_500(stack: Stack) -> None:
    sla = stack.services["sla"]
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        sla.stop()
        try:
            r = await client.get("/workspace/supervisor")
            assert r.status_code == 200 and "sla service is unavailable" in r.text
        finally:
            sla.start()
            sla.wait_ready(timeout=90)


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def staff_of(sub: str, department: str, role: Role = Role.AGENT) -> str:
    return issue_token(TEST_SECRET, sub=sub, role=role, name=sub, department=department, ttl_seconds=3600)


async def test_a_reply_carries_files_that_staff_of_the_department_download_and_others_may_not(stack: Stack) -> None:
    ticket = await new_ticket(stack, subject="Receipt attached")
    owner = ticket["assignee"]["agent_id"]
    intake = stack.services["intake"].url
    path = f"/workspace/tickets/{ticket['id']}/reply"
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert 'enctype="multipart/form-data"' in page and 'type="file"' in page and "multiple" in page
        assert 'accept="image/jpeg' in page and '<label for="reply-files">' in page

        def form(body: str) -> dict[str, str]:
            return {"csrf": csrf_of(page), "idempotency_key": idempotency_of(page), "body": body}

        # The CSRF token is checked on a multipart form too.
        r = await client.post(path, data={"body": "no token"}, files=[("files", ("a.png", PNG, "image/png"))])
        assert r.status_code == 403
        # More files than intake takes: refused here with intake's code, the draft kept.
        six = [("files", (f"p{i}.png", PNG, "image/png")) for i in range(6)]
        r = await client.post(path, data=form("Six pictures"), files=six)
        assert r.status_code == 422 and "too_many_attachments" in r.text and "Six pictures" in r.text
        # A type intake does not take: intake's own reason on the page.
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        text_file = [("files", ("notes.txt", b"just words", "text/plain"))]
        r = await client.post(path, data=form("A text file"), files=text_file)
        assert r.status_code == 415 and "attachment_type_not_allowed" in r.text and "A text file" in r.text
        # A file input left empty sends an empty part: the reply goes without files.
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        r = await client.post(path, data=form("No file"), files=[("files", ("", b"", "application/octet-stream"))])
        assert r.status_code == 303, r.text
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        files = [
            ("files", ("receipt.png", PNG, "image/png")),
            ("files", ("scan.pdf", b"%PDF-1.4 x", "application/pdf")),
        ]
        r = await client.post(path, data=form("Here is your receipt."), files=files)
        assert r.status_code == 303 and r.headers["location"].endswith("done=reply"), r.text

        admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
        async with httpx.AsyncClient(timeout=30) as http:
            landed = (await http.get(f"{intake}/v1/tickets/{ticket['id']}", headers=admin)).json()
        reply = next(e for e in landed["timeline"] if e["kind"] == "reply" and e["body"] == "Here is your receipt.")
        assert [(a["filename"], a["content_type"]) for a in reply["attachments"]] == [
            ("receipt.png", "image/png"),
            ("scan.pdf", "application/pdf"),
        ]
        receipt = reply["attachments"][0]
        link = f"/workspace/tickets/{ticket['id']}/attachments/{receipt['id']}"
        page = (await client.get(f"/workspace/tickets/{ticket['id']}")).text
        assert f'href="{link}"' in page
        download = await client.get(link)
        assert download.status_code == 200 and download.content == PNG
        assert download.headers["content-type"] == "image/png"
        assert download.headers["content-disposition"].startswith("attachment")
        assert download.headers["x-content-type-options"] == "nosniff"
    async with browser(stack) as supervisor:
        await sign_in(supervisor, token("sup-fin", Role.SUPERVISOR))
        assert (await supervisor.get(link)).content == PNG
    async with browser(stack) as other:
        await sign_in(other, staff_of("agent-tech-1", "technical"))
        refused = await other.get(link)
        assert refused.status_code == 403 and "not_your_department" in refused.text
        assert refused.content != PNG


async def test_the_supervisor_page_lists_escalations_and_prefills_reassign_and_transfer(stack: Stack) -> None:
    async with browser(stack) as client:
        await sign_in(client, token("sup-fin", Role.SUPERVISOR))
        r = await client.get("/workspace/supervisor", params={"ticket": "T20260101000001"})
        assert r.status_code == 200 and 'id="escalations-heading"' in r.text
        assert "Escalations unavailable" not in r.text
        assert 'id="assign-ticket" name="ticket" required maxlength="100" value="T20260101000001"' in r.text
        assert 'id="transfer-ticket" name="ticket" required maxlength="100" value="T20260101000001"' in r.text


async def test_an_away_agent_sets_itself_available_and_takes_in_one_click(stack: Stack) -> None:
    intake, routing = stack.services["intake"].url, stack.services["routing"].url
    admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
    async with browser(stack) as client, httpx.AsyncClient(timeout=30) as http:
        await sign_in(client, token("agent-fin-1"))
        page = (await client.get("/workspace/presence")).text
        r = await client.post("/workspace/presence", data={"csrf": csrf_of(page), "presence": "away"})
        assert r.status_code == 303
        try:
            # Finance's only agent is away: a billing ticket waits in the queue.
            created = await http.post(
                f"{intake}/v1/tickets", json=create_ticket_body(subject="Queued invoice"), headers=channel_headers()
            )
            assert created.status_code == 201, created.text
            ticket_id = created.json()["id"]

            async def queued() -> bool:
                queues = (await http.get(f"{routing}/v1/queues", headers=admin)).json()
                items = queues if isinstance(queues, list) else queues.get("items", [])
                return any(t["ticket_id"] == ticket_id for q in items for t in q.get("tickets", []))

            await eventually(queued, timeout=30)
            queue = (await client.get("/workspace/queue")).text
            r = await client.post(f"/workspace/tickets/{ticket_id}/take", data={"csrf": csrf_of(queue)})
            assert r.status_code == 409 and "agent_away" in r.text
            assert f'action="/workspace/tickets/{ticket_id}/take-available"' in r.text
            assert "Set me available and take" in r.text
            # The one-click form is a post with the session's token like every other.
            assert (await client.post(f"/workspace/tickets/{ticket_id}/take-available", data={})).status_code == 403
            r = await client.post(f"/workspace/tickets/{ticket_id}/take-available", data={"csrf": csrf_of(r.text)})
            assert (
                r.status_code == 303 and r.headers["location"] == f"/workspace/tickets/{ticket_id}?done=take_available"
            )

            async def owned() -> bool:
                t = (await http.get(f"{intake}/v1/tickets/{ticket_id}", headers=admin)).json()
                return (t.get("assignee") or {}).get("agent_id") == "agent-fin-1"

            await eventually(owned, timeout=30)
            presence = (await client.get("/workspace/presence")).text
            assert "Routing has you as <strong>available</strong>" in presence
        finally:
            page = (await client.get("/workspace/presence")).text
            await client.post("/workspace/presence", data={"csrf": csrf_of(page), "presence": "available"})


async def test_the_owner_of_a_live_ticket_says_it_is_connected_and_the_access_clock_is_met(stack: Stack) -> None:
    ticket = await new_ticket(stack, channel="phone")
    owner = ticket["assignee"]["agent_id"]
    sla = stack.services["sla"].url
    admin = {"Authorization": f"Bearer {token('admin', Role.ADMIN)}"}
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        page = await client.get(f"/workspace/tickets/{ticket['id']}")
        assert 'id="form-connected"' in page.text, "the owner of a waiting phone ticket is offered it"
        r = await client.post(f"/workspace/tickets/{ticket['id']}/connected", data={"csrf": csrf_of(page.text)})
        assert r.status_code == 303 and "done=connected" in r.headers["location"], r.text[:500]

    async def access_met() -> bool:
        async with httpx.AsyncClient(timeout=10) as http:
            clocks = (await http.get(f"{sla}/v1/tickets/{ticket['id']}/sla", headers=admin)).json()
        return any(c["clock"] == "live_access" and c["status"] == "met" for c in clocks.get("clocks", []))

    await eventually(access_met, timeout=30)
    async with browser(stack) as client:
        await sign_in(client, token(owner))
        page = await client.get(f"/workspace/tickets/{ticket['id']}")
        assert 'id="form-connected"' not in page.text
