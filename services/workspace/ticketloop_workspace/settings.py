"""workspace's settings (`TICKETLOOP_WORKSPACE_*`): where it listens and where the services it
calls answer. No database: the workspace keeps no state of its own."""

from __future__ import annotations

import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ticketloop_shared.settings import PlatformSettings
from ticketloop_workspace.domain import AttachmentLimits
from ticketloop_workspace.notifications.settings import LiveSettings

MIB = 1024 * 1024


class WorkspaceSettings(LiveSettings):
    """Where the workspace listens, the base URLs of the services behind it, and (inherited) the
    live notifications' knobs."""

    model_config = SettingsConfigDict(env_prefix="TICKETLOOP_WORKSPACE_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = 8006
    replica_id: str = Field(default="", max_length=100)
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    sla_url: str = "http://127.0.0.1:8003"
    feedback_url: str = "http://127.0.0.1:8004"
    retrospective_url: str = "http://127.0.0.1:8005"
    # How long one call to a service may take before the page says the service is unavailable.
    upstream_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # A reply with files: up to `attachment_max_total_bytes` sent on, which intake checks and seals.
    upstream_upload_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    # Keep-alive connections per service (one shared client per service, for every signed-in person).
    upstream_max_connections: int = Field(default=100, ge=1, le=10_000)
    page_size: int = Field(default=25, ge=1, le=200)
    # Files on a reply: keep equal to intake's `TICKETLOOP_INTAKE_ATTACHMENT_*` (the workspace checks
    # them before sending, so an oversized upload is refused here with intake's own codes).
    attachment_max_bytes: int = Field(default=10 * MIB, ge=1, le=100 * MIB)
    attachment_max_count: int = Field(default=5, ge=0, le=50)
    attachment_max_total_bytes: int = Field(default=20 * MIB, ge=1, le=200 * MIB)
    platform: PlatformSettings = Field(default_factory=PlatformSettings)

    @property
    def replica(self) -> str:
        """`replica_id`, or the host name when it is not set."""
        return self.replica_id or socket.gethostname()

    @property
    def attachment_limits(self) -> AttachmentLimits:
        """The limits on a reply's files."""
        return AttachmentLimits(
            max_bytes=self.attachment_max_bytes,
            max_count=self.attachment_max_count,
            max_total_bytes=self.attachment_max_total_bytes,
        )

    def upstream_urls(self) -> dict[str, str]:
        """Each service the workspace calls, by name."""
        return {
            "intake": self.intake_url,
            "routing": self.routing_url,
            "sla": self.sla_url,
            "feedback": self.feedback_url,
            "retrospective": self.retrospective_url,
        }
