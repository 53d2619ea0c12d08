"""routing's settings (`TICKETLOOP_ROUTING_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import ServiceSettings, embedded_database_url

DEFAULT_ORGANISATION = Path(__file__).parent / "default_organisation.toml"


class RoutingSettings(ServiceSettings):
    """Where routing listens and stores, the organisation file loaded into an empty database, and
    the defaults of its routing rules."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_ROUTING_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_routing")
    http_port: int = 8002
    organisation_file: Path = DEFAULT_ORGANISATION
    # The most open tickets an agent may own when neither the agent nor its department says;
    # None: no limit (tickets never wait for capacity, only for presence).
    default_capacity: int | None = Field(default=None, ge=1)
    # An away (or offline) agent's tickets it has not touched since assignment go to someone
    # else once it has been away this long.
    away_reassign_minutes: float = Field(default=15.0, gt=0)
    # The longest the away timer sleeps (it wakes when the next away agent's grace runs out, and
    # at least this often to see an agent another replica marked away), and how often the queue
    # sweep runs (it catches capacity freed on another replica while a ticket was being queued).
    away_sweep_seconds: float = Field(default=30.0, gt=0)
    queue_sweep_seconds: float = Field(default=5.0, gt=0)
