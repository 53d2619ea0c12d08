"""Prometheus metrics, defined once per process and served at `/metrics` by every service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
