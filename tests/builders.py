"""`create_*` builders of events, as the producing services would emit them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ticketloop_shared.events import (
    TicketCreated,
    TicketCreatedData,
    TicketRef,
    TicketReplied,
    TicketRepliedData,
    TicketResolved,
    TicketResolvedData,
)
from ticketloop_shared.ids import new_id

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday: ISO week 2026-W48


def ticket_ref(**overrides: Any) -> dict[str, Any]:
    """The TicketRef fields of a fresh ticket."""
    ref: dict[str, Any] = {
        "ticket_id": new_id(),
        "number": f"T20261123{uuid.uuid4().int % 1_000_000:06d}",
        "channel": "web",
        "category": "billing",
        "urgency": "normal",
        "customer_id": f"cust-{uuid.uuid4().hex[:6]}",
        "created_at": T0,
    }
    ref.update(overrides)
    return ref


def create_ticket_created(**overrides: Any) -> TicketCreated:
    """`ticket.created` as intake emits it."""
    ref = ticket_ref(**overrides)
    return TicketCreated(
        source="intake",
        subject=str(ref["ticket_id"]),
        time=ref["created_at"],
        correlation_id=ref["ticket_id"],
        data=TicketCreatedData(**ref, need="refund"),
    )


def _ref(created: TicketCreated) -> dict[str, Any]:
    return created.data.model_dump(include=set(TicketRef.model_fields))


def create_ticket_replied(
    created: TicketCreated,
    *,
    at: datetime | None = None,
    after: timedelta = timedelta(minutes=5),
    first_response: bool = True,
) -> TicketReplied:
    """An agent's reply to a created ticket (at `at`, else `after` its creation), as intake emits it."""
    at = at or created.data.created_at + after
    return TicketReplied(
        source="intake",
        subject=created.subject,
        time=at,
        correlation_id=created.correlation_id,
        data=TicketRepliedData(
            **_ref(created), message_id=new_id(), agent_id="agent-1", replied_at=at, first_response=first_response
        ),
    )


def create_ticket_resolved(
    created: TicketCreated,
    *,
    at: datetime | None = None,
    after: timedelta = timedelta(minutes=60),
    first_response_at: datetime | None = None,
) -> TicketResolved:
    """The resolution of a created ticket (at `at`, else `after` its creation), as intake emits it."""
    at = at or created.data.created_at + after
    return TicketResolved(
        source="intake",
        subject=created.subject,
        time=at,
        correlation_id=created.correlation_id,
        data=TicketResolvedData(
            **_ref(created), resolved_at=at, resolved_by="agent-1", first_response_at=first_response_at
        ),
    )
