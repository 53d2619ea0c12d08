"""The published event catalog is a contract downstream systems code against: it must resolve
with a standard JSON-Schema toolchain and describe exactly what the producers emit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.builders import Story
from ticketloop_shared.events import EVENT_CLASSES, Envelope, parse_event
from ticketloop_shared.events.asyncapi import MODELS, asyncapi, json_schema

# One worker runs this module: its module-scoped fixture is built once, not once per worker.
pytestmark = pytest.mark.xdist_group("contract-catalog")

CATALOG = Path(__file__).resolve().parents[2] / "docs" / "events"
DOC_URI = "urn:ticketloop:asyncapi"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CATALOG / "asyncapi.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def registry(document: dict[str, Any]) -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(document, default_specification=DRAFT202012)
    return Registry().with_resource(DOC_URI, resource)  # type: ignore[no-any-return]


def test_the_published_catalog_is_generated_from_the_models(document: dict[str, Any]) -> None:
    """docs/events is generated; regenerate with `python -m ticketloop_shared.events.asyncapi docs/events`."""
    assert document == json.loads(json.dumps(asyncapi()))
    for event_type, model in MODELS.items():
        on_disk = json.loads((CATALOG / f"{event_type.value}.schema.json").read_text())
        assert on_disk == json.loads(json.dumps(json_schema(model))), event_type


def test_every_ref_in_the_document_resolves(document: dict[str, Any], registry: Registry[Any]) -> None:
    refs = _refs(document)
    assert refs, "the document uses references"
    resolver = registry.resolver(base_uri=DOC_URI)
    for ref in refs:
        assert resolver.lookup(ref).contents is not None, ref


def test_the_document_names_servers_and_kafka_bindings(document: dict[str, Any]) -> None:
    assert {s["protocol"] for s in document["servers"].values()} == {"kafka"}
    for channel in document["channels"].values():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]
    for message in document["components"]["messages"].values():
        assert "kafka" in message["bindings"]


def test_every_event_type_is_in_the_catalog_and_in_the_builders() -> None:
    assert set(MODELS.values()) == set(EVENT_CLASSES)
    assert {type(e) for e in Story().every_event()} == set(EVENT_CLASSES), "builders cover every type"


@pytest.mark.parametrize("event", Story().every_event(), ids=lambda e: e.type)
def test_what_producers_emit_validates_against_the_published_schema(
    event: Envelope, document: dict[str, Any], registry: Registry[Any]
) -> None:
    wire = json.loads(event.to_json())
    message = document["components"]["messages"][event.type.replace(".", "_")]
    # The message's payload reference, resolved against the published document itself.
    validator = Draft202012Validator({"$ref": DOC_URI + message["payload"]["$ref"]}, registry=registry)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(wire)]
    assert errors == []
    assert parse_event(wire) == event, "and consumers read back exactly what was sent"
    standalone = json.loads((CATALOG / f"{event.type}.schema.json").read_text())
    assert list(Draft202012Validator(standalone).iter_errors(wire)) == []
