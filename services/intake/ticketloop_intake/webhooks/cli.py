"""`python -m ticketloop_intake webhooks replay ENDPOINT_ID (--delivery ID | --since T --until T)`:
send deliveries again from the command line, against intake's database, with progress; the
running intake's worker sends them. Audited as `cli:<--actor>`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import datetime

from ticketloop_intake.db import messaging
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.webhooks import service
from ticketloop_intake.webhooks.schemas import ReplayRange
from ticketloop_shared.clock import SystemClock
from ticketloop_shared.db import make_engine, make_sessionmaker
from ticketloop_shared.errors import DomainError
from ticketloop_shared.events import Topics
from ticketloop_shared.messaging.outbox import Outbox
from ticketloop_shared.state import ProcessState
from ticketloop_shared.unit_of_work import unit_of_work

CHUNK = 500


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} queued again")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def replay(
    settings: IntakeSettings,
    endpoint_id: uuid.UUID,
    *,
    delivery_id: uuid.UUID | None,
    window: ReplayRange | None,
    actor: str,
) -> int:
    """Queue one delivery or a range again; how many."""
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessionmaker(engine, state=ProcessState())
    outbox = Outbox(messaging.outbox, Topics(settings.platform.topic_prefix))

    try:
        async with unit_of_work(
            sessions, outbox=outbox, clock=SystemClock(), settings=settings, source="intake"
        ) as uow:
            by = await service.operator(uow.session, endpoint_id, f"cli:{actor}")
            if delivery_id is not None:
                await service.replay(uow, by=by, endpoint_id=endpoint_id, delivery_id=delivery_id)
                _progress(1, 1)
                return 1
            assert window is not None
            ids = await service.range_to_replay(uow, by=by, endpoint_id=endpoint_id, window=window)
        done = 0
        _progress(0, len(ids))
        for start in range(0, len(ids), CHUNK):
            async with unit_of_work(
                sessions, outbox=outbox, clock=SystemClock(), settings=settings, source="intake"
            ) as uow:
                done += await service.requeue(uow, by=by, endpoint_id=endpoint_id, ids=ids[start : start + CHUNK])
            _progress(min(start + CHUNK, len(ids)), len(ids))
        return done
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    """Parse `webhooks replay …` and run it; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ticketloop_intake webhooks")
    parser.add_argument("action", choices=["replay"])
    parser.add_argument("endpoint_id", type=uuid.UUID)
    parser.add_argument("--delivery", type=uuid.UUID, default=None, help="one delivery's id")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None, help="range start (ISO, inclusive)")
    parser.add_argument("--until", type=datetime.fromisoformat, default=None, help="range end (ISO, exclusive)")
    parser.add_argument("--status", default="failed,delivered", help="for a range: which deliveries (comma-separated)")
    parser.add_argument("--actor", default="operator", help="who is replaying, for the audit log")
    args = parser.parse_args(argv)
    window = None
    if args.delivery is None:
        if args.since is None or args.until is None:
            parser.error("give --delivery, or --since and --until")
        window = ReplayRange(since=args.since, until=args.until, statuses=args.status.split(","))
    try:
        count = asyncio.run(
            replay(IntakeSettings(), args.endpoint_id, delivery_id=args.delivery, window=window, actor=args.actor)
        )
    except DomainError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{count} deliveries queued again")  # noqa: T201
    return 0
