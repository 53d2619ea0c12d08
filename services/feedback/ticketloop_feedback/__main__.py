"""`python -m ticketloop_feedback`: serve feedback (migrate with `python -m ticketloop_feedback migrate`)."""

from ticketloop_feedback.app import MIGRATIONS, create_app
from ticketloop_feedback.retention.service import CLASSES as RETENTION
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_shared.cli import service_main

if __name__ == "__main__":
    service_main(FeedbackSettings, create_app, MIGRATIONS, retention=RETENTION)
