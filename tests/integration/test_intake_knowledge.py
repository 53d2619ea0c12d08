"""intake's knowledge base over real HTTP, on a real PostgreSQL: admins write versioned,
audited articles; staff and channels search them with PostgreSQL full-text search; new tickets
get up to three suggestions, at no query while the base is empty."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.support import (
    RunningService,
    admin_headers,
    agent_headers,
    channel_headers,
    create_ticket_body,
    eventually,
    serve,
)
from ticketloop_intake.app import create_app
from ticketloop_intake.knowledge.service import GUARD, article_exists_active, suggest
from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.auth import Role
from ticketloop_shared.settings import PlatformSettings

ARTICLES = "/v1/knowledge/articles"
SEARCH = "/v1/knowledge/search"


@pytest.fixture
async def intake(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[RunningService]:
    # No consumer: the knowledge base handles no events, and a test need not wait for a group join.
    settings = IntakeSettings(
        database_url=await new_database("intake"),
        platform=platform,
        knowledge_guard_seconds=0.2,
        consumer_enabled=False,
    )
    async with serve(create_app(settings)) as running:
        yield running


def article_body(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/knowledge/articles` body."""
    body: dict[str, Any] = {
        "title": "Where is my parcel?",
        "body": "Track the delivery in the app under Orders. Parcels usually arrive within three days.",
        "category": "logistics_delay",
        "keywords": ["tracking", "Delivery Status"],
    }
    body.update(overrides)
    return body


async def create_article(intake: RunningService, **overrides: Any) -> dict[str, Any]:
    r = await intake.client.post(ARTICLES, json=article_body(**overrides), headers=admin_headers())
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


@contextmanager
def counting_statements(intake: RunningService) -> Iterator[list[str]]:
    """Every SQL statement the service's engine sends for the calling task while the block runs
    (the service's own background work, such as the knowledge base's periodic refresh, shares the
    engine and is not the cost being measured)."""
    seen: list[str] = []
    caller = asyncio.current_task()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if asyncio.current_task() is caller:
            seen.append(statement)

    engine = intake.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_an_admin_creates_an_article_that_staff_read_with_its_version(intake: RunningService) -> None:
    r = await intake.client.post(ARTICLES, json=article_body(), headers=admin_headers())
    assert r.status_code == 201, r.text
    article = r.json()
    assert r.headers["ETag"] == '"1"' and article["version"] == 1
    assert article["keywords"] == ["tracking", "delivery status"]  # normalised
    assert article["retired"] is False and article["created_by"] == "admin-test"
    got = await intake.client.get(f"{ARTICLES}/{article['id']}", headers=agent_headers())
    assert got.status_code == 200 and got.json() == article and got.headers["ETag"] == '"1"'


async def test_the_list_is_paginated_and_filtered_by_category_retirement_and_text(intake: RunningService) -> None:
    parcel = await create_article(intake)
    invoice = await create_article(
        intake, title="Download an invoice", body="Invoices are under Account, Billing.", category="billing"
    )
    general = await create_article(intake, title="Opening hours", body="We answer 24 hours a day.", category=None)
    await intake.client.post(f"{ARTICLES}/{general['id']}/retire", headers=admin_headers())
    staff = agent_headers()

    async def ids(**params: Any) -> tuple[list[str], int]:
        r = await intake.client.get(ARTICLES, params=params, headers=staff)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]], r.json()["total"]

    assert await ids() == ([general["id"], invoice["id"], parcel["id"]], 3)  # most recently changed first
    assert await ids(limit=1, offset=1) == ([invoice["id"]], 3)
    assert await ids(category="billing") == ([invoice["id"]], 1)
    assert await ids(retired="true") == ([general["id"]], 1)
    assert await ids(retired="false") == ([invoice["id"], parcel["id"]], 2)
    assert await ids(q="invoices") == ([invoice["id"]], 1)  # full text, stemmed


@pytest.mark.parametrize(
    "body",
    [
        article_body(title=""),
        article_body(body="   "),
        article_body(category="weather"),
        article_body(keywords=["k"] * 21),
        article_body(keywords=["x" * 51]),
        article_body(title="nul \x00 byte"),
        {**article_body(), "unknown": 1},
        {"title": "no body"},
    ],
)
async def test_invalid_articles_are_refused_with_422(intake: RunningService, body: dict[str, Any]) -> None:
    r = await intake.client.post(ARTICLES, json=body, headers=admin_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_only_admins_write_articles_and_only_staff_list_them(intake: RunningService) -> None:
    article = await create_article(intake)
    path = f"{ARTICLES}/{article['id']}"
    for headers in (agent_headers(), agent_headers("sup-1", Role.SUPERVISOR)):
        assert (await intake.client.post(ARTICLES, json=article_body(), headers=headers)).status_code == 403
        patch = await intake.client.patch(path, json={"title": "x"}, headers={**headers, "If-Match": '"1"'})
        assert patch.status_code == 403 and patch.json()["error"]["code"] == "admin_required"
        assert (await intake.client.post(f"{path}/retire", headers=headers)).status_code == 403
    assert (await intake.client.post(ARTICLES, json=article_body(), headers=channel_headers())).status_code == 401
    assert (await intake.client.get(ARTICLES, headers=channel_headers())).status_code == 401
    assert (await intake.client.get(path, headers=agent_headers())).status_code == 200


async def test_a_change_needs_if_match_of_the_current_version(intake: RunningService) -> None:
    article = await create_article(intake)
    path, admin = f"{ARTICLES}/{article['id']}", admin_headers()
    missing = await intake.client.patch(path, json={"title": "Parcel tracking"}, headers=admin)
    assert missing.status_code == 428 and missing.json()["error"]["code"] == "if_match_required"
    changed = await intake.client.patch(path, json={"title": "Parcel tracking"}, headers={**admin, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Parcel tracking" and changed.json()["version"] == 2
    assert changed.headers["ETag"] == '"2"'
    stale = await intake.client.patch(path, json={"title": "Lost edit"}, headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "article_changed"
    assert stale.json()["error"]["details"]["current_etag"] == '"2"'
    # `category: null` makes the article general; an unchanged value is no new version
    general = await intake.client.patch(path, json={"category": None}, headers={**admin, "If-Match": '"2"'})
    assert general.json()["category"] is None and general.json()["version"] == 3
    same = await intake.client.patch(path, json={"title": "Parcel tracking"}, headers={**admin, "If-Match": '"3"'})
    assert same.status_code == 200 and same.json()["version"] == 3
    unknown = await intake.client.patch(f"{ARTICLES}/{uuid.uuid4()}", json={}, headers={**admin, "If-Match": '"1"'})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "article_not_found"


async def test_every_admin_change_is_in_the_audit_log(intake: RunningService) -> None:
    article = await create_article(intake)
    path, admin = f"{ARTICLES}/{article['id']}", admin_headers()
    await intake.client.patch(path, json={"body": "New text", "keywords": []}, headers={**admin, "If-Match": '"1"'})
    await intake.client.post(f"{path}/retire", headers=admin)
    r = await intake.client.get("/v1/audit", params={"subject": f"article:{article['id']}"}, headers=admin)
    entries = list(reversed(r.json()["items"]))
    assert [e["action"] for e in entries] == [
        "knowledge.article_created",
        "knowledge.article_updated",
        "knowledge.article_retired",
    ]
    assert all(e["actor"] == "admin-test" for e in entries)
    assert entries[1]["details"] == {"version": 2, "changed": ["body", "keywords"]}


async def test_search_ranks_the_better_match_first_for_staff_and_channels(intake: RunningService) -> None:
    in_body = await create_article(
        intake, title="Delivery times", body="A refund for a late parcel is possible.", keywords=[]
    )
    in_title = await create_article(
        intake, title="Refund for a late parcel", body="Ask at any counter.", keywords=["refund"]
    )
    await create_article(intake, title="Password reset", body="Use the forgotten-password link.", category="account")
    for headers in (agent_headers(), channel_headers()):
        r = await intake.client.get(SEARCH, params={"q": "refund parcel"}, headers=headers)
        assert r.status_code == 200, r.text
        hits = r.json()["items"]
        assert [h["article_id"] for h in hits] == [in_title["id"], in_body["id"]]
        assert hits[0]["rank"] > hits[1]["rank"]
        assert "refund" in hits[1]["snippet"].lower()
    unauthenticated = await intake.client.get(SEARCH, params={"q": "refund"})
    assert unauthenticated.status_code == 401


async def test_a_category_search_finds_that_category_and_general_articles(intake: RunningService) -> None:
    billing = await create_article(
        intake, title="Refund of a double charge", body="Refunds take 3 days.", category="billing"
    )
    general = await create_article(intake, title="Refund policy", body="Every refund is reviewed.", category=None)
    await create_article(intake, title="Refund for a broken item", body="Send a photo.", category="product_quality")
    r = await intake.client.get(SEARCH, params={"q": "refund", "category": "billing"}, headers=channel_headers())
    assert {h["article_id"] for h in r.json()["items"]} == {billing["id"], general["id"]}


@pytest.mark.parametrize(
    "q",
    ["'&|!():*", "the", '"unterminated', "-", "or or or", "a:* & b <-> !c", "\\", "%_%", "😀", "x" * 200, " "],
)
async def test_any_query_string_is_answered_never_a_500(intake: RunningService, q: str) -> None:
    await create_article(intake)
    for headers in (agent_headers(), channel_headers()):
        r = await intake.client.get(SEARCH, params={"q": q}, headers=headers)
        assert r.status_code in (200, 422), r.text
        assert r.status_code == 200 or q.strip() == ""
        listed = await intake.client.get(ARTICLES, params={"q": q}, headers=agent_headers())
        assert listed.status_code in (200, 422)


@pytest.mark.parametrize("q", ["nul\x00byte", "x" * 201, ""])
async def test_unusable_query_strings_are_422(intake: RunningService, q: str) -> None:
    r = await intake.client.get(SEARCH, params={"q": q}, headers=agent_headers())
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_retired_articles_are_never_found_or_suggested_but_stay_readable(intake: RunningService) -> None:
    article = await create_article(intake, title="Refund of a double charge", category="billing")
    retired = await intake.client.post(f"{ARTICLES}/{article['id']}/retire", headers=admin_headers())
    assert retired.status_code == 200 and retired.json()["retired"] is True and retired.json()["version"] == 2
    again = await intake.client.post(f"{ARTICLES}/{article['id']}/retire", headers=admin_headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "article_retired"
    r = await intake.client.get(SEARCH, params={"q": "refund"}, headers=channel_headers())
    assert r.json()["items"] == []
    async with intake.runtime.sessions() as session:
        assert await suggest(session, category="billing", text="refund of a double charge") == []
        assert not await article_exists_active(session, uuid.UUID(article["id"]))
    read = await intake.client.get(f"{ARTICLES}/{article['id']}", headers=agent_headers())
    assert read.status_code == 200 and read.json()["retired"] is True


async def test_suggest_gives_at_most_three_of_the_tickets_category_or_general_best_first(
    intake: RunningService,
) -> None:
    best = await create_article(
        intake, title="Charged twice", body="A double charge is refunded.", category="billing", keywords=["refund"]
    )
    for n in range(3):
        await create_article(
            intake, title=f"Billing note {n}", body="A charge appears on the card.", category="billing"
        )
    general = await create_article(intake, title="Charged twice by mistake?", body="Call us.", category=None)
    other = await create_article(intake, title="Charged twice", body="Refunded.", category="logistics_delay")
    async with intake.runtime.sessions() as session:
        found = await suggest(
            session, category="billing", text="Charged twice. My card was charged twice, I want a refund."
        )
        assert len(found) == 3
        assert found[0].article_id == uuid.UUID(best["id"])
        assert [s.rank for s in found] == sorted((s.rank for s in found), reverse=True)
        assert uuid.UUID(other["id"]) not in {s.article_id for s in found}
        assert uuid.UUID(general["id"]) in {s.article_id for s in found}
        assert found[0].title == "Charged twice" and found[0].snippet
        assert await suggest(session, category="billing", text="!!! ???") == []
        assert len(await suggest(session, category="billing", text="charged", limit=10)) == 3
        assert await article_exists_active(session, uuid.UUID(best["id"]))
        assert not await article_exists_active(session, uuid.uuid4())


async def test_suggest_costs_no_query_while_the_base_is_empty_and_one_query_otherwise(
    intake: RunningService,
) -> None:
    db, guard = str(intake.runtime.engine.url), intake.runtime.state[GUARD]
    await eventually(lambda: guard.answer(db) is False)  # the periodic refresh found no active article
    async with intake.runtime.sessions() as session:
        with counting_statements(intake) as statements:
            assert await suggest(session, category="billing", text="I was charged twice") == []
        assert statements == []
        assert not session.in_transaction()  # not even a connection was taken from the pool

    await create_article(intake, title="Charged twice", body="A double charge is refunded.", category="billing")
    async with intake.runtime.sessions() as session:
        with counting_statements(intake) as statements:
            found = await suggest(session, category="billing", text="I was charged twice")
        assert len(found) == 1 and len(statements) == 1

    # An article retired in another process is noticed by the refresh: no query again.
    async with intake.runtime.sessions() as session, session.begin():
        await session.execute(text("UPDATE kb_articles SET retired_at = now()"))
    await eventually(lambda: guard.answer(db) is False)
    async with intake.runtime.sessions() as session:
        with counting_statements(intake) as statements:
            assert await suggest(session, category="billing", text="I was charged twice") == []
        assert statements == []


async def test_the_match_query_uses_the_gin_index(intake: RunningService) -> None:
    await create_article(intake)
    async with intake.runtime.sessions() as session, session.begin():
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await session.execute(
            text("EXPLAIN SELECT id FROM kb_articles WHERE search @@ websearch_to_tsquery('english', 'parcel')")
        )
        plan = "\n".join(r[0] for r in rows)
    assert "ix_kb_articles_search" in plan


async def test_a_new_ticket_reads_back_suggestions_and_the_channel_can_report_it_solved_by_one(
    intake: RunningService,
) -> None:
    article = await create_article(
        intake,
        title="Charged twice: how refunds work",
        body="A duplicate charge is refunded in 3 days.",
        category="billing",
        keywords=["refund", "duplicate"],
    )
    r = await intake.client.post(
        "/v1/tickets",
        json=create_ticket_body(subject="Charged twice", description="duplicate charge on my card"),
        headers=channel_headers(),
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert [s["article_id"] for s in ticket["suggestions"]] == [article["id"]]
    url = f"/v1/tickets/{ticket['id']}/solved-by-article"
    r = await intake.client.post(url, json={"article_id": str(uuid.uuid4())}, headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (404, "article_not_found")
    r = await intake.client.post(url, json={"article_id": article["id"]}, headers=channel_headers())
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["self_service"], r.json()["assignee"]) == ("resolved", True, None)
    r = await intake.client.post(url, json={"article_id": article["id"]}, headers=channel_headers())
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ticket_resolved")


async def test_an_article_has_a_language_defaulting_to_the_installs(intake: RunningService) -> None:
    english = await create_article(intake)
    chinese = await create_article(intake, title="退货政策", body="收到商品七天内可以申请退货。", language="zh-hans")
    assert (english["language"], chinese["language"]) == ("en", "zh-Hans")
    r = await intake.client.post(ARTICLES, json=article_body(language="not a tag"), headers=admin_headers())
    assert r.status_code == 422
    path = f"{ARTICLES}/{english['id']}"
    r = await intake.client.patch(path, json={"language": "en-GB"}, headers={**admin_headers(), "If-Match": '"1"'})
    assert (r.status_code, r.json()["language"], r.json()["version"]) == (200, "en-GB", 2)


async def test_a_chinese_question_on_the_messaging_channel_finds_the_chinese_faq(intake: RunningService) -> None:
    """PostgreSQL's text search has no Chinese parser: a question written without spaces is
    matched on its character pairs, on the channel's search and in a new ticket's suggestions."""
    faq = await create_article(
        intake,
        title="如何申请退货退款",
        body="收到商品后七天内，在订单页面点击“申请退货”，填写原因并寄回商品。仓库收到后三个工作日内退款到原支付账户。",
        category=None,
        keywords=["退货", "退款"],
        language="zh-Hans",
    )
    await create_article(
        intake, title="发票开具说明", body="电子发票会在发货后发送到您的邮箱。", category=None, language="zh"
    )
    await create_article(intake)  # an English one about parcels
    r = await intake.client.get(SEARCH, params={"q": "我想退货，怎么办？"}, headers=channel_headers())
    assert r.status_code == 200, r.text
    hits = r.json()["items"]
    assert [h["article_id"] for h in hits] == [faq["id"]]
    assert (hits[0]["language"], hits[0]["snippet"][:8]) == ("zh-Hans", "收到商品后七天内")
    r = await intake.client.get(SEARCH, params={"q": "退款", "language": "zh"}, headers=channel_headers())
    assert [h["article_id"] for h in r.json()["items"]] == [faq["id"]]
    r = await intake.client.get(SEARCH, params={"q": "退款", "language": "en"}, headers=channel_headers())
    assert r.json()["items"] == []
    ticket = await intake.client.post(
        "/v1/tickets",
        json=create_ticket_body(channel="messaging", subject="退货怎么申请", description="衣服尺码不合适，想退款"),
        headers=channel_headers(),
    )
    assert ticket.status_code == 201, ticket.text
    assert [s["article_id"] for s in ticket.json()["suggestions"]][:1] == [faq["id"]]


async def test_the_character_pair_match_uses_its_gin_index(intake: RunningService) -> None:
    await create_article(intake, title="退货政策", body="七天内可以退货。", language="zh")
    async with intake.runtime.sessions() as session, session.begin():
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = await session.execute(text("EXPLAIN SELECT id FROM kb_articles WHERE grams && ARRAY['退货']"))
        plan = "\n".join(r[0] for r in rows)
    assert "ix_kb_articles_grams" in plan
