"""The organisation the load harnesses route with (`load_organisation.toml`: the shipped one
without capacities), so a burst measures deciding and assigning, not how long a queue grows."""

from __future__ import annotations

from pathlib import Path

LOAD_ORGANISATION = Path(__file__).parent / "load_organisation.toml"


def uncapped_env() -> dict[str, str]:
    """The setting that makes routing seed `LOAD_ORGANISATION` into its empty database."""
    return {"TICKETLOOP_ROUTING_ORGANISATION_FILE": str(LOAD_ORGANISATION)}
