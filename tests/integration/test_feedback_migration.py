"""feedback's survey rows from before templates and schedules migrate to sent ticket surveys of the
`ticket` template's version 1 (the questions they were sent with), and back; survey tokens stored
in clear become digests, and the links customers already have keep working."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from alembic import command

from tests.support import columns_holding, serve
from ticketloop_feedback.app import MIGRATIONS, create_app
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_shared.clock import FrozenClock
from ticketloop_shared.db import asyncpg_dsn
from ticketloop_shared.migrations import alembic_config
from ticketloop_shared.settings import PlatformSettings

SENT = datetime(2026, 11, 20, 10, tzinfo=UTC)


async def test_surveys_sent_at_once_become_sent_ticket_surveys_pinned_to_the_questions_they_asked(
    new_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await new_database("feedback-migration")  # empty: migrated here step by step
    config = alembic_config(MIGRATIONS, url)
    await asyncio.to_thread(command.upgrade, config, "0004")
    answered, open_ = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        insert = """
            INSERT INTO surveys (id, token, ticket_id, ticket_number, customer_id, created_at, expires_at,
                                 answered_at, csat, nps, comment, delivered_at)
            VALUES ($1, $2, $3, 'T1', 'cust-1', $4, $5, $6, $7, $8, $9, $4)
        """
        await conn.execute(
            insert, answered, "a" * 32, uuid.uuid4(), SENT, SENT + timedelta(days=14), SENT, 4, 9, "Kind"
        )
        await conn.execute(
            insert, open_, "b" * 32, uuid.uuid4(), SENT, SENT + timedelta(days=14), None, None, None, None
        )

        await asyncio.to_thread(command.upgrade, config, "0006")  # before texts were sealed apart (0008)
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                "SELECT id, kind, template_id, template_version, sent_at, due_at, resolved_at, answers::text, "
                "csat, nps, reminded_at FROM surveys"
            )
        }
        assert rows[answered]["answers"] == '{"nps": 9, "csat": 4, "comment": "Kind"}'
        assert rows[open_]["answers"] is None
        for row in rows.values():
            assert (row["kind"], row["template_id"], row["template_version"]) == ("ticket", "ticket", 1)
            assert row["sent_at"] == row["due_at"] == row["resolved_at"] == SENT
            assert row["reminded_at"] is None  # the open one is reminded like any other
        versions = await conn.fetch("SELECT template_id, version FROM survey_template_versions ORDER BY 1, 2")
        assert [tuple(v) for v in versions] == [("relationship", 1), ("ticket", 1), ("ticket", 2)]

        await asyncio.to_thread(command.downgrade, config, "0004")
        back = {r["id"]: dict(r) for r in await conn.fetch("SELECT id, csat, nps, comment FROM surveys")}
        assert back[answered] == {"id": answered, "csat": 4, "nps": 9, "comment": "Kind"}
        assert back[open_]["csat"] is None
    finally:
        await conn.close()


async def test_texts_answered_before_sealing_move_apart_from_the_scores_marked_unsealed(
    new_database: Callable[[str], Awaitable[str]],
) -> None:
    url = await new_database("feedback-migration-texts")
    config = alembic_config(MIGRATIONS, url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    answered, silent = uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        insert = """
            INSERT INTO surveys (id, token, kind, template_id, template_version, customer_id, ticket_id, resolved_at,
                                 created_at, due_at, sent_at, expires_at, answered_at, answers)
            VALUES ($1, $2, 'ticket', 'ticket', 1, 'cust-1', $3, $4, $4, $4, $4, $5, $4, $6::jsonb)
        """
        later = SENT + timedelta(days=14)
        await conn.execute(insert, answered, "c" * 32, uuid.uuid4(), SENT, later, '{"csat": 2, "comment": "me@x.org"}')
        await conn.execute(insert, silent, "d" * 32, uuid.uuid4(), SENT, later, '{"csat": 5}')

        await asyncio.to_thread(command.upgrade, config, "head")
        rows = {r["id"]: dict(r) for r in await conn.fetch("SELECT id, answers::text, texts FROM surveys")}
        assert rows[answered]["answers"] == '{"csat": 2, "comment": null}'
        assert rows[answered]["texts"] == b'\x00{"comment": "me@x.org"}', "unsealed until the sealing job runs"
        assert rows[silent] == {"id": silent, "answers": '{"csat": 5}', "texts": None}

        await asyncio.to_thread(command.downgrade, config, "0006")
        back = {r["id"]: r["answers"] for r in await conn.fetch("SELECT id, answers::text FROM surveys")}
        assert back[answered] == '{"csat": 2, "comment": "me@x.org"}'
    finally:
        await conn.close()


async def test_links_already_sent_keep_working_once_their_tokens_are_replaced_by_digests(
    new_database: Callable[[str], Awaitable[str]], platform: PlatformSettings
) -> None:
    url = await new_database("feedback-migration")
    config = alembic_config(MIGRATIONS, url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    now = datetime(2027, 1, 20, 10, tzinfo=UTC)
    sent, scheduled = uuid.uuid4(), uuid.uuid4()
    sent_token, scheduled_token = "S3ntT0ken_" + "x" * 22, "Sched-T0ken_" + "y" * 20
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        insert = """
            INSERT INTO surveys (id, token, kind, template_id, template_version, customer_id, ticket_id,
                                 ticket_number, resolved_at, created_at, due_at, sent_at, expires_at)
            VALUES ($1, $2, 'ticket', 'ticket', $3, 'cust-1', $4, 'T1', $5, $5, $6, $7,
                    $6::timestamptz + interval '14 days')
        """
        await conn.execute(insert, sent, sent_token, 2, uuid.uuid4(), now - timedelta(days=1), now, now)
        await conn.execute(insert, scheduled, scheduled_token, None, uuid.uuid4(), now, now + timedelta(hours=2), None)
        await asyncio.to_thread(command.upgrade, config, "head")
    finally:
        await conn.close()
    for token in (sent_token, scheduled_token):
        assert await columns_holding(url, token) == []

    settings = FeedbackSettings(database_url=url, platform=platform)
    async with serve(create_app(settings, clock=FrozenClock(now + timedelta(minutes=5)))) as feedback:
        shown = await feedback.client.get(f"/v1/surveys/{sent_token}")
        assert (shown.status_code, shown.json()["status"]) == (200, "open")
        r = await feedback.client.post(f"/v1/surveys/{sent_token}", json={"csat": 5})
        assert r.status_code == 201, r.text
        # a token nobody was given (the survey was not out) was dropped, not carried over
        assert (await feedback.client.get(f"/v1/surveys/{scheduled_token}")).status_code == 404

    await asyncio.to_thread(command.downgrade, config, "0006")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tokens = {r["id"]: r["token"] for r in await conn.fetch("SELECT id, token FROM surveys")}
    finally:
        await conn.close()
    assert set(tokens) == {sent, scheduled} and sent_token not in tokens.values()  # fresh ones: digests hold none
