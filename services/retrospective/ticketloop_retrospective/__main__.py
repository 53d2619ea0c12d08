"""`python -m ticketloop_retrospective`: serve retrospective (migrate with `... migrate`; rebuild the
read model from the topics and compare the reports with `... rebuild [PERIOD ...]`)."""

import asyncio
import sys

from ticketloop_retrospective.app import MIGRATIONS, create_app
from ticketloop_retrospective.retention.service import CLASSES as RETENTION
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.cli import service_main
from ticketloop_shared.clock import utcnow


def _say(message: str) -> None:
    print(f"[rebuild] {message}", flush=True)  # noqa: T201


if __name__ == "__main__":
    if sys.argv[1:2] == ["rebuild"]:
        from ticketloop_retrospective.rebuild import default_periods, rebuild

        settings = RetrospectiveSettings()
        periods = sys.argv[2:] or default_periods(settings, utcnow())
        sys.exit(0 if asyncio.run(rebuild(settings, periods=periods, say=_say)) else 1)
    service_main(RetrospectiveSettings, create_app, MIGRATIONS, retention=RETENTION)
