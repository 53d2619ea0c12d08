"""`python -m ticketloop_retrospective`: serve retrospective (migrate with `... migrate`)."""

from ticketloop_retrospective.app import MIGRATIONS, create_app
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.cli import service_main

if __name__ == "__main__":
    service_main(RetrospectiveSettings, create_app, MIGRATIONS)
