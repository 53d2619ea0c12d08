"""Distributed tracing (OpenTelemetry) across HTTP and Kafka, off unless an exporter is named.

Why the context rides in the envelope: a request never produces to Kafka; the outbox relay
publishes its events later, in another task, in batches. So `emit` stamps the W3C
`traceparent` of the span that caused the event into the envelope (and the relay copies it to
the record's headers for tools that read only headers), and the consumer starts one CONSUMER
span per event handled, as a child of that traceparent. Events a handler emits carry the
consumer span's traceparent: one ticket is one trace through all five services.

- HTTP: the request's server span (opentelemetry-instrumentation-fastapi).
- A consumer: a `process <type>` span per event, around its handler (`consumer_span`).
- Neither (a sweep or the SLA timer, hours after the cause): each emitted event starts its own
  trace with a short PRODUCER span (`emission_traceparent`). Those sweeps keep no cause to
  continue from, and a timer firing hours later is a new piece of work; the correlation id
  (the ticket id) still ties the traces of one ticket together, and every span carries it.

Configuration is the standard `OTEL_*` environment: `OTEL_TRACES_EXPORTER` (`otlp`, `console`
or `none`, the default here: unlike the OpenTelemetry default, tracing is opt-in),
`OTEL_SERVICE_NAME` (default `ticketloop-<service>`), `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_EXPORTER_OTLP_ENDPOINT` and the other exporter and batch-processor variables, read by the
SDK itself. Off, nothing is instrumented: the hot paths pay one boolean test.

Several services in one process (tests) share one tracer provider, hence one resource: every
span also names its service in the `ticketloop.service` attribute, and each service gets its
own tracer (`ticketloop.<service>`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from ticketloop_shared.events.envelope import Envelope

log = logging.getLogger(__name__)

SERVICE_ATTRIBUTE = "ticketloop.service"
# Requests that would only add noise to every trace backend: probes and scrapes.
EXCLUDED_URLS = "/health/live,/health/ready,/metrics"

_PROPAGATOR = TraceContextTextMapPropagator()


class TracingSettings(BaseSettings):
    """The `OTEL_*` variables ticketloop reads itself (the SDK reads the exporter's own)."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    sdk_disabled: bool = False
    # Comma-separated like the specification's; `none` (the default) leaves tracing off.
    traces_exporter: str = "none"
    service_name: str | None = None

    def exporters(self) -> list[str]:
        """The exporters named, `none` and blanks dropped; empty when tracing is off."""
        if self.sdk_disabled:
            return []
        return [e for e in (part.strip().lower() for part in self.traces_exporter.split(",")) if e and e != "none"]


class _State:
    """The process's provider (None: tracing off) and one tracer per service."""

    provider: TracerProvider | None = None
    tracers: dict[str, Tracer] = {}


def active() -> bool:
    """Whether this process records spans (checked before any tracing work on a hot path)."""
    return _State.provider is not None


def install(provider: TracerProvider) -> None:
    """Record spans with `provider` from now on (tests install one with an in-memory exporter;
    `setup` installs the one the environment describes)."""
    _State.provider = provider
    _State.tracers = {}


def uninstall() -> None:
    """Stop recording spans; the provider is flushed and shut down."""
    provider, _State.provider, _State.tracers = _State.provider, None, {}
    if provider is not None:
        provider.shutdown()


def setup(service: str, *, replica: str, settings: TracingSettings | None = None) -> bool:
    """Install the tracer provider `OTEL_*` describes, once per process; True if tracing is on.

    A second call (another service's app in the same process, a test's) keeps the first provider.
    """
    if _State.provider is not None:
        return True
    settings = settings or TracingSettings()
    names = settings.exporters()
    if not names:
        return False
    from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [e for e in (_exporter(name) for name in names) if e is not None]
    if not exporters:
        return False
    attributes: dict[str, Any] = {SERVICE_INSTANCE_ID: replica, SERVICE_ATTRIBUTE: service}
    if not settings.service_name:  # else the SDK's environment detector sets it
        attributes[SERVICE_NAME] = f"ticketloop-{service}"
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    # Third-party instrumentation that asks for the global provider gets the same one.
    trace.set_tracer_provider(provider)
    log.info("tracing on", extra={"exporters": names, "replica": replica})
    return True


def _exporter(name: str) -> SpanExporter | None:
    """The exporter `OTEL_TRACES_EXPORTER` names; a missing or unknown one is logged and
    skipped (tracing is an aid: a service does not refuse to start over it)."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.error("OTEL_TRACES_EXPORTER=otlp needs the `otlp` extra: pip install 'ticketloop-shared[otlp]'")
            return None
        return OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    log.error("unknown OTEL_TRACES_EXPORTER; ignored", extra={"exporter": name})
    return None


def tracer(service: str) -> Tracer:
    """The tracer of one service (its own instrumentation scope, `ticketloop.<service>`)."""
    found = _State.tracers.get(service)
    if found is None:
        provider = _State.provider
        found = provider.get_tracer(f"ticketloop.{service}") if provider is not None else trace.NoOpTracer()
        _State.tracers[service] = found
    return found


def instrument_app(app: FastAPI, service: str) -> None:
    """Give every request a server span (continuing a `traceparent` header), if tracing is on."""
    if _State.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def name_service(span: Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, service)

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_State.provider,
        server_request_hook=name_service,
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )


def traceparent_of(span: Span) -> str | None:
    """The W3C `traceparent` naming `span` as the parent (None for an invalid span)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def context_of(traceparent: str | None) -> Context | None:
    """The parent context a `traceparent` names (None, or an empty context when malformed:
    the span then starts a trace of its own)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def current_traceparent() -> str | None:
    """The traceparent of the span running now (the HTTP request's), if any."""
    if _State.provider is None:
        return None
    return traceparent_of(trace.get_current_span())


def _event_attributes(service: str, event: Envelope) -> dict[str, Any]:
    return {
        SERVICE_ATTRIBUTE: service,
        "messaging.system": "kafka",
        "messaging.message.id": str(event.id),
        "ticketloop.event.type": str(event.type),
        "ticketloop.subject": event.subject,
        "ticketloop.correlation_id": str(event.correlation_id or event.id),
    }


def emission_traceparent(service: str, event: Envelope) -> str | None:
    """For an event emitted with no cause and no span running (a sweep, a timer): a PRODUCER
    span that starts its own trace, ended at once; its traceparent goes into the envelope."""
    if _State.provider is None:
        return None
    span = tracer(service).start_span(
        f"create {event.type}",
        context=Context(),  # a root, whatever happens to be current
        kind=SpanKind.PRODUCER,
        attributes={**_event_attributes(service, event), "messaging.operation.type": "create"},
    )
    span.end()
    return traceparent_of(span)


def consumer_span(
    service: str,
    event: Envelope,
    *,
    topic: str,
    partition: int,
    offset: int,
    group: str,
    extra: Mapping[str, Any] | None = None,
) -> Span:
    """A started CONSUMER span for handling `event`, child of the traceparent it carries (one
    trace per ticket); the caller ends it once the transaction has committed or failed."""
    attributes = {
        **_event_attributes(service, event),
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
        "messaging.consumer.group.name": group,
        **(extra or {}),
    }
    return tracer(service).start_span(
        f"process {event.type}",
        context=context_of(event.traceparent) or Context(),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )


def end_spans(spans: list[Span], error: BaseException | None = None) -> None:
    """End the spans of one transaction, marking them failed with `error` if it rolled back."""
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
        span.end()


@contextmanager
def current(span: Span | None) -> Iterator[None]:
    """Make `span` the current one inside the block (nothing when None)."""
    if span is None:
        yield
        return
    with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
        yield
