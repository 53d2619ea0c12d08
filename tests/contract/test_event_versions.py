"""A breaking change is a new `.vN` type, and the old one keeps arriving for a while (outbox
rows replayed from the retention window, a producer not yet redeployed). So every version of
a type a consumer may receive must have the same effect on it: a consumer that reacts to one
version only would count the same fact differently depending on when it was told."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import inspect, select

from tests.builders import T0, Story
from tests.contract.test_consumers import SERVICES, _parts
from tests.support import admin_headers, publish_and_apply, serve
from ticketloop_retrospective.app import create_app
from ticketloop_retrospective.db import messaging
from ticketloop_retrospective.facts.models import TicketFact
from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.events import EVENT_CLASSES, Envelope, EventType, SurveyKind
from ticketloop_shared.settings import PlatformSettings

NewDatabase = Callable[[str], Awaitable[str]]
_VERSION = re.compile(r"\.v[0-9]+$")


def _versions() -> dict[str, set[type[Envelope]]]:
    """Event classes by type name without its version, for the types with more than one."""
    by_name: dict[str, set[type[Envelope]]] = defaultdict(set)
    for cls in EVENT_CLASSES:
        by_name[_VERSION.sub("", cls.model_fields["type"].default)].add(cls)
    return {name: classes for name, classes in by_name.items() if len(classes) > 1}


def test_survey_sent_has_two_versions_in_the_catalog() -> None:
    assert "feedback.survey_sent" in _versions()


def test_every_consumer_handles_all_versions_of_a_type_or_none() -> None:
    for service in SERVICES:
        handled = set(_parts(service)[0].classes())
        for name, versions in _versions().items():
            assert handled & versions in (set(), versions), f"{service} handles only some versions of {name}"


def _ignored(event_type: str) -> float:
    value = REGISTRY.get_sample_value(
        "ticketloop_events_consumed_total",
        {"service": "retrospective", "type": event_type, "outcome": "ignored"},
    )
    return value or 0.0


def _fact(fact: TicketFact | None) -> dict[str, object]:
    """A ticket's facts without what tells two tickets apart, nor the segment: it arrives on its
    own, through the customer's `customer.segment_changed`, at a moment no answer decides."""
    assert fact is not None
    row = {c.key: getattr(fact, c.key) for c in inspect(TicketFact).mapper.column_attrs}
    return {k: v for k, v in row.items() if k not in {"ticket_id", "number", "customer_id", "updated_at", "segment"}}


async def test_retrospective_counts_survey_sent_v1_and_v2_alike(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    """Two tickets with the same history, one told `survey_sent.v1` (replayed from an old
    outbox), one `survey_sent.v2`: the same facts, the same weekly figures, no dead letter."""
    old, new = Story(created_at=T0), Story(created_at=T0)
    resolved_at, answered_at = T0 + timedelta(hours=3), T0 + timedelta(hours=5)
    sent: list[tuple[Story, Envelope]] = [(old, old.survey_sent_v1(resolved_at)), (new, new.survey_sent(resolved_at))]
    assert [e.type for _, e in sent] == [EventType.FEEDBACK_SURVEY_SENT, EventType.FEEDBACK_SURVEY_SENT_V2]
    events: list[Envelope] = []
    for story, survey in sent:
        # survey_sent and answered share the ticket's key, so one partition keeps their order
        events += [story.created(), story.resolved(resolved_at), survey, story.answered(answered_at, csat=4, nps=9)]
    ignored_before = {e.type: _ignored(e.type) for _, e in sent}

    settings = RetrospectiveSettings(database_url=await new_database("retrospective"), platform=platform)
    async with serve(create_app(settings)) as service:
        consumer = service.runtime.consumer
        assert consumer is not None
        # created, resolved, answered, twice; survey_sent is no work (and leaves no inbox row)
        work = [e for e in events if not e.type.startswith("feedback.survey_sent")]
        await publish_and_apply(service, platform, events, wait_for=work)
        # each answer came after its survey_sent on the same partition, so both versions were read
        assert {t: _ignored(t) - before for t, before in ignored_before.items()} == dict.fromkeys(ignored_before, 1.0)

        async with service.runtime.sessions() as session:
            old_fact = _fact(await session.get(TicketFact, old.ticket_id))
            new_fact = _fact(await session.get(TicketFact, new.ticket_id))
            inbox = set((await session.scalars(select(messaging.inbox.c.event_id))).all())
            parked = (await session.scalars(select(messaging.dead_letters.c.event_type))).all()
        assert old_fact == new_fact
        assert old_fact["csat"] == 4 and old_fact["resolved_at"] == resolved_at
        assert not {e.id for _, e in sent} & inbox
        assert parked == []

        r = await service.client.get("/v1/reports/weekly", params={"week": "2026-W48"}, headers=admin_headers())
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["tickets_opened"], report["tickets_resolved"]) == (2, 2)
        assert report["csat"] == {"responses": 2, "average": 4.0, "satisfied_pct": 100.0}


async def test_retrospective_counts_feedback_received_v1_and_v2_alike(
    platform: PlatformSettings, new_database: NewDatabase
) -> None:
    """The same ticket-survey answer told as `feedback.received.v1` (replayed) and as `.v2`: the
    same ticket facts and the same weekly CSAT; a relationship answer (v2, no ticket) touches no
    ticket's facts."""
    old, new = Story(created_at=T0), Story(created_at=T0)
    resolved_at, answered_at = T0 + timedelta(hours=3), T0 + timedelta(hours=5)
    events: list[Envelope] = []
    answers: list[tuple[Story, Envelope]] = [
        (old, old.answered(answered_at, csat=2, nps=9)),
        (new, new.answered_v2(answered_at, csat=2, nps=9)),
    ]
    for story, answer in answers:
        events += [story.created(), story.resolved(resolved_at), answer]
    relationship = new.answered_v2(answered_at, csat=None, kind=SurveyKind.QUARTERLY, nps=3)
    assert relationship.data.ticket_id is None
    events.append(relationship)

    settings = RetrospectiveSettings(database_url=await new_database("retrospective"), platform=platform)
    async with serve(create_app(settings)) as service:
        consumer = service.runtime.consumer
        assert consumer is not None
        await publish_and_apply(service, platform, events)
        async with service.runtime.sessions() as session:
            old_fact = _fact(await session.get(TicketFact, old.ticket_id))
            new_fact = _fact(await session.get(TicketFact, new.ticket_id))
            parked = (await session.scalars(select(messaging.dead_letters.c.event_type))).all()
        assert old_fact == new_fact
        assert (new_fact["csat"], new_fact["nps"], new_fact["answered_at"]) == (2, 9, answered_at)
        assert parked == []
        r = await service.client.get("/v1/reports/weekly", params={"week": "2026-W48"}, headers=admin_headers())
        assert r.json()["csat"] == {"responses": 2, "average": 2.0, "satisfied_pct": 0.0}
