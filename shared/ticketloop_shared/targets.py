"""Response-time targets (SPEC §2 defaults, operator-settable via `TICKETLOOP_TARGET_*`).

Intake quotes them to the customer in its read-back and sla runs its clocks on them: one
definition keeps the promise and the measurement from drifting apart. Business calendars and
per-segment policies (owned by sla) will replace the flat minutes here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VOICE_CHANNELS = frozenset({"phone"})


class ResponseTargets(BaseSettings):
    """Minutes allowed for each commitment."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_TARGET_", extra="ignore")

    acknowledgement_minutes: float = Field(default=10, gt=0)
    first_response_text_minutes: float = Field(default=15, gt=0)
    first_response_voice_minutes: float = Field(default=3, gt=0)
    resolution_minutes: float = Field(default=120, gt=0)


@dataclass(frozen=True)
class Deadlines:
    """The deadlines that apply to one ticket from the moment it is accepted."""

    acknowledgement_due: datetime
    first_response_due: datetime
    resolution_due: datetime


def deadlines_for(targets: ResponseTargets, *, channel: str, received_at: datetime) -> Deadlines:
    """Deadlines of a ticket received on `channel` at `received_at` (voice answers faster)."""
    first = targets.first_response_voice_minutes if channel in VOICE_CHANNELS else targets.first_response_text_minutes
    return Deadlines(
        acknowledgement_due=received_at + timedelta(minutes=targets.acknowledgement_minutes),
        first_response_due=received_at + timedelta(minutes=first),
        resolution_due=received_at + timedelta(minutes=targets.resolution_minutes),
    )
