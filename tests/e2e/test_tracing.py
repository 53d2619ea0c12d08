"""One ticket is one trace through all five services: the HTTP requests that act on it, and every
event it causes, handled by intake, routing, sla, feedback and retrospective, carry one trace id,
although the outbox relay publishes each event long after its request ended.

The five services run in this test's process (real PostgreSQL, real broker, real HTTP), sharing
one tracer provider with an in-memory exporter; each span names its service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    read_topic,
    serve,
)
from ticketloop_feedback.app import create_app as create_feedback
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_intake.app import create_app as create_intake
from ticketloop_intake.settings import IntakeSettings
from ticketloop_retrospective.app import create_app as create_retrospective
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_routing.app import create_app as create_routing
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared import tracing
from ticketloop_shared.events import Topics
from ticketloop_shared.settings import PlatformSettings
from ticketloop_sla.app import create_app as create_sla
from ticketloop_sla.settings import SlaSettings

# The end-to-end tier runs in two lanes (two workers), one stack at a time in each: several whole
# stacks starting at once on two cores would only slow each other down.
pytestmark = pytest.mark.xdist_group("e2e-stacks")

SERVICE = tracing.SERVICE_ATTRIBUTE


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only, every span kept in memory as soon as it ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "ticketloop-tests"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


async def five_services(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], stack: AsyncExitStack
) -> dict[str, RunningService]:
    builders: dict[str, Callable[[str], Any]] = {
        "intake": lambda url: create_intake(IntakeSettings(database_url=url, platform=platform)),
        "routing": lambda url: create_routing(RoutingSettings(database_url=url, platform=platform)),
        "sla": lambda url: create_sla(SlaSettings(database_url=url, platform=platform)),
        "feedback": lambda url: create_feedback(FeedbackSettings(database_url=url, platform=platform)),
        "retrospective": lambda url: create_retrospective(RetrospectiveSettings(database_url=url, platform=platform)),
    }
    return {
        name: await stack.enter_async_context(serve(build(await new_database(name))))
        for name, build in builders.items()
    }


def in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id]


def consumed(spans: list[ReadableSpan], service: str, event_type: str) -> list[ReadableSpan]:
    """The CONSUMER spans of `service` handling events of `event_type` (any version)."""
    return [
        s
        for s in spans
        if s.kind is SpanKind.CONSUMER
        and (s.attributes or {}).get(SERVICE) == service
        and str((s.attributes or {}).get("ticketloop.event.type", "")).startswith(f"{event_type}.v")
    ]


async def test_one_ticket_is_one_trace_through_all_five_services(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]], spans: InMemorySpanExporter
) -> None:
    async with AsyncExitStack() as stack:
        services = await five_services(platform, new_database, stack)
        intake = services["intake"]
        # The caller (a channel, then the agent's desk) passes one trace context with every
        # request about this ticket, as the W3C `traceparent` header.
        trace_id = uuid.uuid4().int
        caller = {"traceparent": f"00-{trace_id:032x}-{uuid.uuid4().int >> 64:016x}-01"}

        r = await intake.client.post(
            "/v1/tickets", json=create_ticket_body(category="billing"), headers=channel_headers(**caller)
        )
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]

        async def assigned() -> dict[str, Any] | None:
            t = (await intake.client.get(f"/v1/tickets/{ticket_id}", headers=admin_headers())).json()
            return t if t.get("assignee") else None

        ticket = await eventually(assigned)
        owner = agent_headers(ticket["assignee"]["agent_id"], department=ticket["assignee"]["department_id"])
        r = await intake.client.post(
            f"/v1/tickets/{ticket_id}/replies", json={"body": "Refunding you."}, headers={**owner, **caller}
        )
        assert r.status_code == 201, r.text
        r = await intake.client.post(
            f"/v1/tickets/{ticket_id}/resolve", json={"resolution": "Refunded"}, headers={**owner, **caller}
        )
        assert r.status_code == 200, r.text

        # Every service handles its part of the story within the caller's trace.
        def story() -> list[ReadableSpan] | None:
            found = in_trace(spans, trace_id)
            wanted = [
                consumed(found, "routing", "ticket.created"),
                consumed(found, "sla", "ticket.created"),
                consumed(found, "intake", "ticket.assigned"),
                consumed(found, "feedback", "ticket.resolved"),
                consumed(found, "retrospective", "ticket.resolved"),
            ]
            return found if all(wanted) else None

        found = await eventually(story, timeout=30)

    by_service = {str((s.attributes or {}).get(SERVICE)) for s in found}
    assert by_service >= {"intake", "routing", "sla", "feedback", "retrospective"}
    # The requests: server spans of intake, children of the caller's context.
    servers = [s for s in found if s.kind is SpanKind.SERVER]
    assert {s.name for s in servers} >= {
        "POST /v1/tickets",
        "POST /v1/tickets/{ticket_id}/replies",
        "POST /v1/tickets/{ticket_id}/resolve",
    }
    assert all((s.attributes or {}).get(SERVICE) == "intake" for s in servers)
    # The events: routing's span for ticket.created is a child of the request that created it;
    # intake's span for the ticket.assigned routing emitted while handling it is a child of
    # routing's span: the trace follows each hop, not only its first.
    [create_request] = [s for s in servers if s.name == "POST /v1/tickets"]
    [routed] = consumed(found, "routing", "ticket.created")
    assert routed.parent is not None and create_request.context is not None
    assert routed.parent.span_id == create_request.context.span_id
    [shown] = consumed(found, "intake", "ticket.assigned")
    assert shown.parent is not None and routed.context is not None
    assert shown.parent.span_id == routed.context.span_id
    attributes = dict(routed.attributes or {})
    assert attributes["messaging.system"] == "kafka"
    assert attributes["ticketloop.subject"] == ticket_id
    assert attributes["messaging.destination.name"] == Topics(platform.topic_prefix).for_family("ticket")
    # Every span recorded about this ticket's events is in this one trace.
    about_ticket = [
        s for s in spans.get_finished_spans() if (s.attributes or {}).get("ticketloop.subject") == ticket_id
    ]
    others = [
        (s.name, dict(s.attributes or {})) for s in about_ticket if s.context is None or s.context.trace_id != trace_id
    ]
    assert not others

    # On the wire: the envelope carries the trace context, and so do the record's headers.
    records = await read_topic(platform, Topics(platform.topic_prefix).for_family("ticket"), count=1)
    created = next(r for r in records if json.loads(r.value)["subject"] == ticket_id)
    envelope = json.loads(created.value)
    assert envelope["traceparent"].split("-")[1] == format_trace_id(trace_id)
    assert dict(created.headers)["traceparent"].decode() == envelope["traceparent"]


async def test_tracing_off_records_nothing_and_stamps_no_context(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    """The default: no exporter named, no provider, no middleware; events carry no traceparent."""
    assert not tracing.active()
    settings = IntakeSettings(database_url=await new_database("intake"), platform=platform)
    app = create_intake(settings)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    async with serve(app, wait_consumer=False) as intake:
        r = await intake.client.post(
            "/v1/tickets",
            json=create_ticket_body(),
            headers=channel_headers(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"),
        )
        assert r.status_code == 201, r.text
    records = await read_topic(platform, Topics(platform.topic_prefix).for_family("ticket"), count=1)
    assert records
    for record in records:
        assert json.loads(record.value)["traceparent"] is None
        assert "traceparent" not in dict(record.headers)
