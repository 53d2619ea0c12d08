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

from ticketloop_shared.events.catalog import (
    EventType,
    FeedbackReceived,
    SlaBreached,
    SlaMet,
    SurveySent,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketResolved,
)
from ticketloop_shared.events.envelope import Envelope
from ticketloop_shared.events.topics import Topics

MODELS: dict[EventType, type[Envelope]] = {
    EventType.TICKET_CREATED: TicketCreated,
    EventType.TICKET_ASSIGNED: TicketAssigned,
    EventType.TICKET_REPLIED: TicketReplied,
    EventType.TICKET_RESOLVED: TicketResolved,
    EventType.SLA_MET: SlaMet,
    EventType.SLA_BREACHED: SlaBreached,
    EventType.FEEDBACK_SURVEY_SENT: SurveySent,
    EventType.FEEDBACK_RECEIVED: FeedbackReceived,
}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of one event as it appears on the wire."""
    return model.model_json_schema(mode="serialization")


def asyncapi(topics: Topics | None = None) -> dict[str, Any]:
    """The AsyncAPI document: one channel per topic, one message per event type."""
    topics = topics or Topics()
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, model in MODELS.items():
        name = event_type.value.replace(".", "_")
        topic = topics.for_type(event_type)
        messages[name] = {
            "name": event_type.value,
            "title": event_type.value,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "payload": json_schema(model),
        }
        channel = channels.setdefault(
            topic.replace(".", "_"),
            {"address": topic, "description": "Keyed by the subject (ticket id).", "messages": {}},
        )
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for key in channels:
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Subscribe to {channels[key]['address']}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ticketloop events",
            "version": "1.0.0",
            "description": "Every fact ticketloop publishes. Schemas evolve additively; a breaking "
            "change is a new `.vN` type. Payloads carry ids and masked values only.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
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
