"""routing's settings (`TICKETLOOP_ROUTING_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import ServiceSettings, embedded_database_url

DEFAULT_ORGANISATION = Path(__file__).parent / "default_organisation.toml"


class RoutingSettings(ServiceSettings):
    """Where routing listens and stores, and the organisation file loaded into an empty database."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_ROUTING_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_routing")
    http_port: int = 8002
    organisation_file: Path = DEFAULT_ORGANISATION
