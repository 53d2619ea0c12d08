"""The yardstick of `ticketloop bench`: the least a ticket endpoint can do on this hardware.

The same body validation as intake (its own `TicketCreate` model) and one asyncpg INSERT of
one row, served by uvicorn with uvloop and httptools. Whatever ticketloop does beyond this
(idempotency, numbering, deadlines, timeline, outbox, read-back) is what the ratio measures.

`python -m ticketloop_embedded.baseline --port P --dsn postgresql://… [--workers N]`
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, Response

from ticketloop_intake.tickets.schemas import TicketCreate
from ticketloop_shared.ids import new_id

DDL = "CREATE TABLE IF NOT EXISTS baseline_tickets (id uuid PRIMARY KEY, body jsonb NOT NULL)"


def create_app() -> FastAPI:
    """The baseline app; the database comes from `BASELINE_DSN` (so each worker can build it)."""
    dsn = os.environ["BASELINE_DSN"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        async with app.state.pool.acquire() as conn:
            await conn.execute(DDL)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/tickets", status_code=201)
    async def create(body: TicketCreate, request: Request) -> Response:
        ticket_id = new_id()
        payload = body.model_dump_json()
        await request.app.state.pool.execute(
            "INSERT INTO baseline_tickets (id, body) VALUES ($1, $2::jsonb)", ticket_id, payload
        )
        return Response(f'{{"id":"{ticket_id}"}}', status_code=201, media_type="application/json")

    return app


def main() -> None:
    """Serve the baseline on 127.0.0.1."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ["BASELINE_DSN"] = args.dsn
    uvicorn.run(
        "ticketloop_embedded.baseline:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
