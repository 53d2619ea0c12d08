"""The event contracts: wire round-trips, discrimination, topics, and the published catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.builders import create_ticket_created, create_ticket_replied, create_ticket_resolved
from ticketloop_shared.events import EventType, TicketCreated, Topics, parse_event
from ticketloop_shared.events.asyncapi import MODELS, asyncapi, json_schema

CATALOG = Path(__file__).parents[2] / "docs" / "events"


def test_every_event_type_has_a_model_and_a_topic() -> None:
    assert set(MODELS) == set(EventType)
    topics = Topics("ticketloop")
    assert {topics.for_type(t) for t in EventType} == {
        "ticketloop.ticket",
        "ticketloop.sla",
        "ticketloop.feedback",
        "ticketloop.care",
        "ticketloop.customer",
        "ticketloop.deadlines",
        "ticketloop.staff",
        "ticketloop.review",
        "ticketloop.webhook",
        "ticketloop.order",
    }


@pytest.mark.parametrize("build", [create_ticket_created, lambda: create_ticket_replied(create_ticket_created())])
def test_an_event_survives_the_wire_and_comes_back_as_its_own_type(build: object) -> None:
    event = build()  # type: ignore[operator]
    again = parse_event(json.loads(event.to_json()))
    assert type(again) is type(event)
    assert again == event


def test_resolved_event_keeps_the_ticket_reference() -> None:
    created = create_ticket_created(channel="phone")
    resolved = create_ticket_resolved(created)
    assert resolved.data.channel == "phone"
    assert resolved.data.created_at == created.data.created_at


def test_unknown_type_and_bad_data_are_rejected() -> None:
    raw = json.loads(create_ticket_created().to_json())
    with pytest.raises(ValidationError):
        parse_event({**raw, "type": "ticket.exploded.v1"})
    with pytest.raises(ValidationError):
        parse_event({**raw, "data": {**raw["data"], "created_at": "2026-01-01T00:00:00"}})  # naive time


def test_newer_producers_may_add_fields() -> None:
    raw = json.loads(create_ticket_created().to_json())
    raw["data"]["added_in_a_later_version"] = 1
    raw["new_envelope_field"] = "x"
    assert isinstance(parse_event(raw), TicketCreated)


def test_context_carries_correlation_from_cause_to_effect() -> None:
    created = create_ticket_created()
    ctx = created.context()
    assert ctx.causation_id == created.id
    assert ctx.correlation_id == created.data.ticket_id  # kept from the cause
    uncorrelated = created.model_copy(update={"correlation_id": None})
    assert uncorrelated.context().correlation_id == created.id  # or started by it


def test_published_catalog_matches_the_models() -> None:
    """docs/events is generated; regenerate with `python -m ticketloop_shared.events.asyncapi docs/events`."""
    assert json.loads((CATALOG / "asyncapi.json").read_text()) == json.loads(json.dumps(asyncapi()))
    for event_type, model in MODELS.items():
        on_disk = json.loads((CATALOG / f"{event_type.value}.schema.json").read_text())
        assert on_disk == json.loads(json.dumps(json_schema(model))), event_type
