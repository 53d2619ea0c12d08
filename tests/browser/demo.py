"""Eight weeks of a believable help desk, as the loop's events, for the browser test and the
screenshot in the README: volume growing week on week, logistics delays turning hot for the last
four weeks (so the weekly review opens a rectification item), slower first answers on some
problem types, a few breaches, reopens and repeat contacts, survey answers that follow how the
ticket went, and customers moving between segments. Deterministic for a given seed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.builders import Story
from ticketloop_shared.events import ClockKind, CustomerSegmentChanged, CustomerSegmentChangedData, Envelope
from ticketloop_shared.unit_of_work import build_event

# category: (department, minutes to first answer, hours to resolve, reopen chance)
CATEGORIES: dict[str, tuple[str, float, float, float]] = {
    "logistics_delay": ("supply_chain", 17, 30, 0.12),
    "billing": ("finance", 11, 6, 0.05),
    "product_quality": ("quality", 9, 20, 0.08),
    "account": ("after_sales", 7, 3, 0.02),
    "service_attitude": ("after_sales", 14, 5, 0.05),
    "other": ("after_sales", 10, 4, 0.03),
}
CALM = {"logistics_delay": 22, "billing": 26, "product_quality": 18, "account": 14, "service_attitude": 10, "other": 10}
HOT = {"logistics_delay": 36, "billing": 22, "product_quality": 16, "account": 11, "service_attitude": 8, "other": 7}
VOLUME = (14, 15, 17, 16, 19, 21, 20, 23)
CHANNELS = ("web", "web", "app", "app", "email", "phone", "messaging")
FIRST_RESPONSE_TARGET = timedelta(minutes=15)
RESOLUTION_TARGET = timedelta(hours=24)


@dataclass
class Demo:
    """The events, in the order they happened, and each ticket's story."""

    events: list[Envelope] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)

    def numbers(self, *, category: str, since: datetime, until: datetime) -> set[str]:
        """The numbers of the tickets of `category` opened in [since, until)."""
        return {s.number for s in self.stories if s.category == category and since <= s.created_at < until}


def _counts(weights: dict[str, int], total: int) -> dict[str, int]:
    """`total` tickets shared by weight, largest remainders first (so the mix is exact)."""
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def _segment(customer: str, segment: str, when: datetime) -> CustomerSegmentChanged:
    data = CustomerSegmentChangedData(customer_id=customer, segment=segment, changed_at=when)
    event = build_event(data, source="retrospective", time=when, subject=customer)
    assert isinstance(event, CustomerSegmentChanged)
    return event


def demo(first_monday: datetime, now: datetime, *, weeks: int = 8, seed: int = 48) -> Demo:
    """`weeks` weeks of tickets from `first_monday`; nothing happens after `now`."""
    rng = random.Random(seed)
    customers = [f"cust-{n:03d}" for n in range(70)]
    spend = {c: round(rng.lognormvariate(6.5, 0.9), 2) for c in customers}
    segmented: set[str] = set()
    out = Demo()
    timed: list[tuple[datetime, int, Envelope]] = []

    def at(when: datetime, event: Envelope) -> None:
        if when <= now:
            timed.append((when, len(timed), event))

    for week in range(weeks):
        monday = first_monday + timedelta(weeks=week)
        mix = _counts(HOT if week >= weeks - 4 else CALM, VOLUME[week % len(VOLUME)])
        for category, count in mix.items():
            department, answer_minutes, resolve_hours, reopen_chance = CATEGORIES[category]
            for _ in range(count):
                created = monday + timedelta(
                    days=rng.randrange(5), hours=rng.randrange(8, 18), minutes=rng.randrange(60)
                )
                if created > now:
                    continue
                customer = rng.choice(customers)
                story = Story(category, created, channel=rng.choice(CHANNELS), customer_id=customer)
                out.stories.append(story)
                at(created, story.created(customer_annual_spend=spend[customer]))
                if customer not in segmented:
                    segmented.add(customer)
                    kind = "high_value" if spend[customer] > 1500 else ("new" if rng.random() < 0.5 else "potential")
                    at(created, _segment(customer, kind, created))
                assigned = created + timedelta(minutes=rng.randint(1, 4))
                at(assigned, story.assigned(assigned, department=department))
                # Teams answer a little faster each week: the trend line should show it.
                wait = timedelta(minutes=answer_minutes * rng.uniform(0.35, 1.9) * (1 - 0.04 * week))
                answered = created + wait
                at(answered, story.replied(answered))
                if wait <= FIRST_RESPONSE_TARGET:
                    at(answered, story.met(ClockKind.FIRST_RESPONSE, answered))
                else:
                    at(
                        created + FIRST_RESPONSE_TARGET,
                        story.breached(ClockKind.FIRST_RESPONSE, created + FIRST_RESPONSE_TARGET),
                    )
                took = timedelta(hours=resolve_hours * rng.uniform(0.3, 1.7))
                if rng.random() < 0.3:
                    at(answered + took / 2, story.replied(answered + took / 2, first=False))
                if rng.random() < 0.05:
                    at(created + took / 3, story.repeat_contact(created + took / 3))
                resolved = created + took
                if resolved > now or rng.random() < 0.06:
                    continue  # still being worked
                if took <= RESOLUTION_TARGET:
                    at(resolved, story.met(ClockKind.RESOLUTION, resolved))
                else:
                    at(created + RESOLUTION_TARGET, story.breached(ClockKind.RESOLUTION, created + RESOLUTION_TARGET))
                at(resolved, story.resolved(resolved, first_response_at=answered))
                went_well = wait <= FIRST_RESPONSE_TARGET and took <= RESOLUTION_TARGET
                if rng.random() < reopen_chance:
                    at(resolved + timedelta(hours=20), story.reopened(resolved + timedelta(hours=20)))
                    went_well = False
                if rng.random() < 0.6:
                    csat = rng.choice((4, 5, 5, 5, 4, 4)) if went_well else rng.choice((1, 2, 3, 3, 4))
                    nps = {5: rng.randint(9, 10), 4: rng.randint(7, 9)}.get(csat, rng.randint(1, 6))
                    survey = resolved + timedelta(hours=rng.randint(2, 30))
                    at(survey, story.answered(survey, csat=csat, nps=nps))
                    if csat <= 2:
                        at(survey, _segment(customer, "churn_risk", survey))
    out.events = [event for _, _, event in sorted(timed, key=lambda t: (t[0], t[1]))]
    return out
