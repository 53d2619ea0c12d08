"""`If-Match` everywhere, swept: every PATCH, PUT and DELETE of every service — enumerated from
each service's own OpenAPI document, so a new route is swept without anyone remembering to add
it — answers 428 `if_match_required` when the caller (an admin, or the development channel for
the channel's own routes) names no version, and documents that 428. A route that may change
without naming a version must be in `EXEMPT` below, with the reason; an entry that no longer
matches a route fails the sweep too, so the list cannot go stale.

Dummy ids and an empty body are enough: the precondition dependency sits right after the
credentials, so it answers before the body is validated or the resource is looked up."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import FastAPI

from tests.support import RunningService, admin_headers, channel_headers, serve
from ticketloop_feedback.app import create_app as create_feedback
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_retrospective.app import create_app as create_retrospective
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings

pytestmark = pytest.mark.slow

MUTATING = ("patch", "put", "delete")

# (service, method, path template) → why the route changes something without naming a version.
EXEMPT: dict[tuple[str, str, str], str] = {
    # Erasure is a command, not an edit: it must succeed whatever changed meanwhile (the law asks
    # for it), is idempotent (a second call is harmless), and leaves nothing to overwrite.
    ("intake", "DELETE", "/v1/customers/{customer_id}/personal-data"): "erasure command",
    # An agent's live presence, set whole by the agent (or its supervisor): the latest word is the
    # truth, there is no document read and edited that a concurrent change could be lost from.
    ("routing", "PUT", "/v1/agents/{agent_id}/presence"): "live state, latest word wins",
    # A commerce system's order status only moves forward (placed → paid → shipped → delivered;
    # cancelled and returned are final): a stale change is refused by the lifecycle itself, so a
    # status webhook need not read first. An If-Match sent is still honoured (412 when stale).
    ("intake", "PATCH", "/v1/orders/{order_id}"): "forward-only status, stale changes refused by the lifecycle",
}


@pytest.fixture
async def stack(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[dict[str, RunningService]]:
    settings: dict[str, Any] = {
        "intake": IntakeSettings(database_url=await new_database("intake"), platform=platform),
        "routing": RoutingSettings(database_url=await new_database("routing"), platform=platform),
        "sla": SlaSettings(database_url=await new_database("sla"), platform=platform),
        "feedback": FeedbackSettings(database_url=await new_database("feedback"), platform=platform),
        "retrospective": RetrospectiveSettings(database_url=await new_database("retrospective"), platform=platform),
    }
    factories: dict[str, Callable[[Any], FastAPI]] = {
        "intake": create_intake,
        "routing": create_routing,
        "sla": create_sla,
        "feedback": create_feedback,
        "retrospective": create_retrospective,
    }
    async with AsyncExitStack() as running:
        yield {name: await running.enter_async_context(serve(factories[name](settings[name]))) for name in settings}


def _url(path: str, parameters: list[dict[str, Any]]) -> str:
    """The path with every path parameter a dummy that fits its schema (a UUID, or a slug)."""
    formats = {p["name"]: p.get("schema", {}).get("format") for p in parameters if p.get("in") == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if formats.get(m.group(1)) == "uuid" else "sweep", path)


def _credentials(path: str) -> dict[str, str]:
    """The channel's own routes (and a commerce system's orders) take its key; every other change
    is an admin's."""
    return channel_headers() if path.startswith(("/v1/channel/", "/v1/orders")) else admin_headers()


async def test_every_change_of_every_service_needs_if_match(stack: dict[str, RunningService]) -> None:
    swept: list[tuple[str, str, str]] = []
    wrong: list[str] = []
    for service, running in stack.items():
        document = (await running.client.get("/openapi.json")).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if method not in MUTATING:
                    continue
                route = (service, method.upper(), path)
                swept.append(route)
                if route in EXEMPT:
                    continue
                r = await running.client.request(
                    method.upper(),
                    _url(path, operation.get("parameters", [])),
                    json={} if method != "delete" else None,
                    headers=_credentials(path),
                )
                is_json = r.headers.get("content-type") == "application/json"
                code = r.json().get("error", {}).get("code") if is_json else None
                if (r.status_code, code) != (428, "if_match_required"):
                    wrong.append(f"{service} {method.upper()} {path}: {r.status_code} {code}")
                elif "428" not in operation.get("responses", {}):
                    wrong.append(f"{service} {method.upper()} {path}: 428 not documented")
    assert not wrong, "changes that do not require If-Match:\n" + "\n".join(wrong)
    assert set(EXEMPT) <= set(swept), f"exempt routes that no longer exist: {set(EXEMPT) - set(swept)}"
    # The sweep saw the routes this issue is about (a broken enumeration would pass vacuously).
    assert {
        ("sla", "PUT", "/v1/policies/{policy_id}"),
        ("routing", "PUT", "/v1/organisation"),
        ("intake", "PATCH", "/v1/tickets/{ticket_id}"),
    } <= set(swept)
