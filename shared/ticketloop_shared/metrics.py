"""Prometheus metrics, defined once per process and served at `/metrics` by every service."""

from __future__ import annotations

import hmac

from prometheus_client import Counter, Gauge, Histogram
from pydantic import SecretStr

HTTP_REQUESTS = Counter(
    "ticketloop_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram("ticketloop_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
EVENTS_PUBLISHED = Counter("ticketloop_events_published_total", "Events published from the outbox", ["service", "type"])
OUTBOX_PENDING = Gauge("ticketloop_outbox_pending", "Outbox rows not yet published", ["service"])
EVENTS_CONSUMED = Counter(
    "ticketloop_events_consumed_total",
    "Events taken from Kafka, by outcome (handled, duplicate, ignored, deadlettered)",
    ["service", "type", "outcome"],
)
HANDLER_RETRIES = Counter("ticketloop_handler_retries_total", "Event handler retries", ["service", "type"])
CONSUMER_LAG = Gauge(
    "ticketloop_consumer_lag",
    "Messages between a partition's end and the consumer's position",
    ["service", "partition"],
)
CONSUMER_PAUSED = Gauge(
    "ticketloop_consumer_paused", "1 while the consumer waits for a dependency to come back", ["service"]
)
OFFSET_RESETS = Counter(
    "ticketloop_consumer_offset_resets_total",
    "Partitions whose position was past the log end (a replaced broker) and were re-read from the start",
    ["service"],
)
BROKER_RESETS = Counter(
    "ticketloop_broker_resets_total", "Times the relay found a replaced broker and republished its window", ["service"]
)
DEADLETTERS_PARKED = Counter(
    "ticketloop_deadletters_parked_total", "Events parked as permanently failing", ["service", "type"]
)
REPLICA_INFO = Gauge(
    "ticketloop_replica_info",
    "1 for each service replica this process runs: which service and which replica (join on it per process)",
    ["service", "replica"],
)
CONSUMER_PARTITIONS = Gauge(
    "ticketloop_consumer_partitions_assigned",
    "Partitions this replica's consumer owns now (the group splits a topic's partitions among replicas)",
    ["service", "replica"],
)


def scrape_allowed(token: SecretStr | None, authorization: str | None) -> bool:
    """Whether a `/metrics` request may read the figures: always when no token is configured
    (`TICKETLOOP_METRICS_TOKEN`), else only with `Authorization: Bearer <that token>`."""
    if token is None:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected)
