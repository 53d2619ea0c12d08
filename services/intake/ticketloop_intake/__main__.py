"""`python -m ticketloop_intake`: serve intake (migrate with `python -m ticketloop_intake migrate`)."""

from ticketloop_intake.app import MIGRATIONS, create_app
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.cli import service_main

if __name__ == "__main__":
    service_main(IntakeSettings, create_app, MIGRATIONS)
