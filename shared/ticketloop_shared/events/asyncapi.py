"""The event catalog for downstream subscribers: an AsyncAPI 3 document whose message payloads
are the JSON Schemas generated from the pydantic models (so the catalog cannot drift from code).

`python -m ticketloop_shared.events.asyncapi docs/events` writes `asyncapi.json` and one schema per type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ticketloop_shared.events.catalog import EVENT_CLASSES, EventType
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.events.topics import Topics

MODELS: dict[EventType, type[Envelope]] = {EventType(cls.model_fields["type"].default): cls for cls in EVENT_CLASSES}
KAFKA_BINDING = "0.5.0"
REF_TEMPLATE = "#/components/schemas/{model}"


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The self-contained JSON Schema of one event as it appears on the wire."""
    return model.model_json_schema(mode="serialization")


def asyncapi(topics: Topics | None = None) -> dict[str, Any]:
    """The AsyncAPI 3 document: servers, one channel per topic with its Kafka binding, one
    message per event type whose payload refers to `components/schemas` (every `$ref` resolves
    inside the document)."""
    topics = topics or Topics()
    keyed, definitions = models_json_schema(
        [(model, "serialization") for model in MODELS.values()], ref_template=REF_TEMPLATE
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, model in MODELS.items():
        name = event_type.value.replace(".", "_")
        topic = topics.for_type(event_type)
        payload_ref = keyed[(model, "serialization")]
        messages[name] = {
            "name": event_type.value,
            "title": event_type.value,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "payload": payload_ref,
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": "The subject: ticket (or customer) id."},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        channel = channels.setdefault(
            topic.replace(".", "_"),
            {
                "address": topic,
                "description": "Keyed by the subject (ticket id), so one ticket's events keep their order.",
                "messages": {},
                "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
            },
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for key, channel in channels.items():
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Subscribe to {channel['address']}",
            "messages": [{"$ref": f"#/channels/{key}/messages/{m}"} for m in channel["messages"]],
            "bindings": {
                "kafka": {
                    "groupId": {"type": "string", "description": "Your own consumer group."},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ticketloop events",
            "version": "1.0.0",
            "description": "Every fact ticketloop publishes. Schemas evolve additively; a breaking "
            "change is a new `.vN` type. Payloads carry ids and masked values only. Delivery is at "
            "least once: deduplicate on the envelope's `id`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KRaft) of docker-compose.yml; set TICKETLOOP_KAFKA_BOOTSTRAP.",
            },
            "embedded": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The Kafka-compatible broker that `make run` starts (memory-only).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def write(folder: Path) -> list[Path]:
    """Write the AsyncAPI document and one JSON Schema per event type into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "asyncapi.json"]
    written[0].write_text(json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n")
    for event_type, model in MODELS.items():
        path = folder / f"{event_type.value}.schema.json"
        path.write_text(json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")):
        print(p)  # noqa: T201
