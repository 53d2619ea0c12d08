"""`python -m ticketloop_sla`: serve sla (migrate with `python -m ticketloop_sla migrate`)."""

from ticketloop_shared.cli import service_main
from ticketloop_sla.app import MIGRATIONS, create_app
from ticketloop_sla.settings import SlaSettings

if __name__ == "__main__":
    service_main(SlaSettings, create_app, MIGRATIONS)
