"""sla's settings (`TICKETLOOP_SLA_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import ServiceSettings, embedded_database_url
from ticketloop_shared.targets import ResponseTargets


class SlaSettings(ServiceSettings):
    """Where sla listens and stores, how often it looks for breaches, and the targets it measures."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_SLA_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_sla")
    http_port: int = 8003
    # How late a breach may be announced at worst; each sweep is one indexed query.
    breach_check_seconds: float = Field(default=5.0, gt=0)
    targets: ResponseTargets = Field(default_factory=ResponseTargets)
