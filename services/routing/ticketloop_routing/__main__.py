"""`python -m ticketloop_routing`: serve routing (migrate with `python -m ticketloop_routing migrate`)."""

from ticketloop_routing.app import MIGRATIONS, create_app
from ticketloop_routing.retention.service import CLASSES as RETENTION
from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.cli import service_main

if __name__ == "__main__":
    service_main(RoutingSettings, create_app, MIGRATIONS, retention=RETENTION)
