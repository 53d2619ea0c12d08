"""sla's settings (`TICKETLOOP_SLA_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import ServiceSettings, embedded_database_url


class SlaSettings(ServiceSettings):
    """Where sla listens and stores, and how its timer and re-targeting work. The targets
    themselves are policies, kept in sla's database and changed through its admin API."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_SLA_", extra="ignore")

    database_url: str = embedded_database_url("ticketloop_sla")
    http_port: int = 8003
    # The timer sleeps until the next due instant, but never longer than this: the most a clock
    # made due sooner by another replica (or an injected clock) can wait to be noticed; this
    # process's own consumer and recompute wake it (`clocks.service.TIMER_WAKE`).
    timer_max_idle_seconds: float = Field(default=5.0, gt=0, le=60)
    # Tickets the timer handles per transaction; a full batch is followed at once by the next.
    timer_batch: int = Field(default=500, ge=1, le=10_000)
    timer_enabled: bool = True
    # How often open tickets are checked for rules changed since their clocks were set (a query
    # per run even when no rule changed, so not every second).
    recompute_seconds: float = Field(default=10.0, gt=0)
    recompute_batch: int = Field(default=500, ge=1, le=10_000)
    # A burst of due clocks (thousands of breaches at one instant) is published by this many
    # relay slices at once, each keeping its tickets' order.
    outbox_partitions: int = Field(default=4, ge=1, le=64)
