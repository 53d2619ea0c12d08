"""Topic names: one topic per event family, all under a configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("ticket", "sla", "feedback", "review", "customer", "care", "staff", "deadlines", "webhook", "order")
# Types with a topic of their own. sla republishes a ticket's whole set of clocks on every
# change, several times per ticket: subscribers of SLA facts (met, breached, escalated) should
# not have to read past that stream, and intake, which shows the deadlines, reads only it.
# The policies and calendars sla publishes go there too: they decide the deadlines, and intake
# computes a new ticket's first deadlines from them.
OWN_TOPIC = {"sla.clocks_changed": "deadlines", "sla.policy_changed": "deadlines", "sla.calendar_changed": "deadlines"}


@dataclass(frozen=True)
class Topics:
    """Resolves topic names under a prefix (`ticketloop.ticket`, …, `ticketloop.deadletter`)."""

    prefix: str = "ticketloop"

    def for_family(self, family: str) -> str:
        """Topic that carries every event of one family."""
        if family not in FAMILIES:
            raise ValueError(f"unknown event family {family!r}")
        return f"{self.prefix}.{family}"

    def for_type(self, event_type: str) -> str:
        """Topic of a versioned type such as `ticket.created.v1`."""
        name = event_type.rsplit(".", 1)[0]
        return self.for_family(OWN_TOPIC.get(name) or event_type.split(".", 1)[0])

    @property
    def deadletter(self) -> str:
        """Where messages that keep failing are parked, with their error."""
        return f"{self.prefix}.deadletter"

    def all(self) -> list[str]:
        """Every topic the system uses, for creating them at start."""
        return [self.for_family(f) for f in FAMILIES] + [self.deadletter]
