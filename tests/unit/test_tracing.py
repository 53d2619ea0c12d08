"""Which trace context an emitted event carries, and what tracing costs when it is off: the
rules of `UnitOfWork.emit` and `tracing`, without a database (emit only stages events)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData

from tests.builders import T0, Story
from ticketloop_shared import tracing
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.events import Topics
from ticketloop_shared.logging import JsonFormatter
from ticketloop_shared.messaging.outbox import Outbox, outbox_table
from ticketloop_shared.settings import ServiceSettings
from ticketloop_shared.unit_of_work import UnitOfWork

OUTBOX = Outbox(outbox_table(MetaData()), Topics("t"))


def a_unit(**kwargs: Any) -> UnitOfWork[ServiceSettings]:
    """A unit of work with no session: enough to stage events."""
    return UnitOfWork(
        session=cast(Any, None),
        clock=FrozenClock(T0),
        settings=ServiceSettings(),
        source="routing",
        outbox=OUTBOX,
        **kwargs,
    )


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


def test_off_by_default_and_by_none_or_sdk_disabled() -> None:
    assert tracing.TracingSettings().exporters() == []
    assert tracing.TracingSettings(traces_exporter="none").exporters() == []
    assert tracing.TracingSettings(traces_exporter="otlp, console").exporters() == ["otlp", "console"]
    assert tracing.TracingSettings(traces_exporter="otlp", sdk_disabled=True).exporters() == []
    assert tracing.setup("routing", replica="r1", settings=tracing.TracingSettings()) is False
    assert not tracing.active()


def test_with_tracing_off_an_event_copies_its_cause_context_and_records_nothing() -> None:
    story = Story()
    cause = story.created().model_copy(update={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    uow = a_unit(cause=cause)
    caused = uow.emit(story.assigned(T0).data)
    assert caused.traceparent == cause.traceparent  # a service without tracing passes it on
    assert a_unit().emit(story.created().data).traceparent is None


def test_the_otlp_exporter_reads_its_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    exporter = tracing._exporter("otlp")
    assert type(exporter).__name__ == "OTLPSpanExporter"
    assert tracing._exporter("carrier-pigeon") is None


def test_an_event_emitted_during_a_request_continues_the_request_span(spans: InMemorySpanExporter) -> None:
    story = Story()
    with tracing.tracer("intake").start_as_current_span("POST /v1/tickets") as request:
        event = a_unit().emit(story.created().data)
    assert event.traceparent == tracing.traceparent_of(request)
    assert [s.name for s in spans.get_finished_spans()] == ["POST /v1/tickets"]


def test_an_event_caused_by_a_handled_event_continues_the_consumer_span(spans: InMemorySpanExporter) -> None:
    story = Story()
    cause = story.created().model_copy(update={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
    span = tracing.consumer_span("routing", cause, topic="t.ticket", partition=2, offset=7, group="t.routing")
    uow = a_unit()
    uow.trace_parents[cause.id] = str(tracing.traceparent_of(span))
    uow.subject_traces[cause.subject] = str(tracing.traceparent_of(span))
    with uow.caused_by(cause):
        caused = uow.emit(story.assigned(T0).data)
    uncaused = uow.emit(story.status_changed(T0, "new", "in_progress", action="assign").data)
    tracing.end_spans([span])
    assert caused.traceparent == uncaused.traceparent == tracing.traceparent_of(span)
    [finished] = spans.get_finished_spans()
    assert finished.kind is SpanKind.CONSUMER
    assert finished.parent is not None and finished.parent.trace_id == int("a" * 32, 16)
    assert (finished.attributes or {})["ticketloop.service"] == "routing"
    assert (finished.attributes or {})["messaging.destination.partition.id"] == "2"


def test_a_sweep_emission_starts_a_trace_of_its_own(spans: InMemorySpanExporter) -> None:
    """No cause and no span running (a timer, hours after the fact): a root PRODUCER span."""
    story = Story()
    first, second = a_unit().emit(story.created().data), a_unit().emit(story.assigned(T0).data)
    roots = spans.get_finished_spans()
    assert [s.kind for s in roots] == [SpanKind.PRODUCER, SpanKind.PRODUCER]
    assert all(s.parent is None for s in roots)
    assert first.traceparent == tracing.traceparent_of(cast(Any, roots[0]))
    assert str(first.traceparent).split("-")[1] != str(second.traceparent).split("-")[1]
    assert (roots[0].attributes or {})["ticketloop.correlation_id"] == str(story.ticket_id)


def test_the_outbox_puts_the_trace_context_in_the_record_headers() -> None:
    event = Story().created().model_copy(update={"traceparent": "00-" + "c" * 32 + "-" + "d" * 16 + "-01"})
    [row] = OUTBOX.rows([event])
    assert cast(dict[str, str], row["headers"])["traceparent"] == event.traceparent
    [plain] = OUTBOX.rows([Story().created()])
    assert "traceparent" not in cast(dict[str, str], plain["headers"])


def test_a_malformed_traceparent_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    cause = Story().created().model_copy(update={"traceparent": "not-a-traceparent"})
    span = tracing.consumer_span("sla", cause, topic="t.ticket", partition=0, offset=0, group="g")
    tracing.end_spans([span], ValueError("boom"))
    [finished] = spans.get_finished_spans()
    assert finished.parent is None
    assert finished.status.status_code is trace.StatusCode.ERROR


def test_log_lines_name_the_replica_and_the_trace(spans: InMemorySpanExporter) -> None:
    record = logging.makeLogRecord({"msg": "assigned", "levelno": logging.INFO, "levelname": "INFO"})
    with tracing.tracer("routing").start_as_current_span("work") as span:
        line = json.loads(JsonFormatter("routing", "routing-2").format(record))
    assert line["replica"] == "routing-2"
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"
