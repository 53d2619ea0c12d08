"""`python -m ticketloop_<service> dlq list|show|replay`: the parked events of one service,
read from its own database (so they survive a broker loss), and put back once fixed."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData

from ticketloop_shared.db import make_engine
from ticketloop_shared.messaging.deadletter import Filters, dead_letter_table, listing, replay, show
from ticketloop_shared.messaging.kafka import make_producer
from ticketloop_shared.settings import ServiceSettings


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} replayed")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))  # noqa: T201


async def run_dlq(
    settings: ServiceSettings,
    *,
    action: str,
    letter_id: int | None = None,
    event_type: str | None = None,
    since: str | None = None,
    include_replayed: bool = False,
) -> int:
    """Run one dlq command against the service's database; the exit status."""
    table = dead_letter_table(MetaData())
    filters = Filters(
        event_type=event_type,
        since=datetime.fromisoformat(since) if since else None,
        include_replayed=include_replayed,
        ids=[letter_id] if letter_id is not None else (),
    )
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        if action == "list":
            _print(await listing(engine, table, filters, limit=1000))
            return 0
        if action == "show":
            if letter_id is None:
                print("dlq show needs a letter id", file=sys.stderr)  # noqa: T201
                return 2
            letter = await show(engine, table, letter_id)
            if letter is None:
                print(f"no dead letter {letter_id}", file=sys.stderr)  # noqa: T201
                return 1
            _print(letter)
            return 0
        producer = make_producer(settings.platform, client_id="dlq-replay")
        await producer.start()
        try:
            count = await replay(engine, table, producer, filters, progress=_progress)
        finally:
            await producer.stop()
        print(f"replayed {count}", file=sys.stderr)  # noqa: T201
        return 0
    finally:
        await engine.dispose()
