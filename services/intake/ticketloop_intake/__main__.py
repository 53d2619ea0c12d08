"""`python -m ticketloop_intake`: serve intake (migrate with `python -m ticketloop_intake migrate`;
replay webhook deliveries with `python -m ticketloop_intake webhooks replay …`)."""

import sys

from ticketloop_intake.app import MIGRATIONS, create_app
from ticketloop_intake.retention.service import CLASSES as RETENTION
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.cli import service_main

if __name__ == "__main__":
    if sys.argv[1:2] == ["webhooks"]:
        from ticketloop_intake.webhooks.cli import main

        raise SystemExit(main(sys.argv[2:]))
    service_main(IntakeSettings, create_app, MIGRATIONS, retention=RETENTION)
