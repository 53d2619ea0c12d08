"""The body limit: one for every route, a larger one for the few routes that take files, each
refused with 413 `body_too_large` before the body is read into memory."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from ticketloop_shared.api import BodyLimit


def limited_app() -> BodyLimit:
    app = FastAPI()

    @app.post("/{path:path}")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return BodyLimit(app, max_bytes=10, larger={r"/v1/tickets/[^/]+/messages": 100})


async def test_the_routes_that_take_files_have_a_larger_limit_and_the_others_keep_theirs() -> None:
    transport = httpx.ASGITransport(app=limited_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/v1/tickets/1/messages", content=b"x" * 100)).json() == {"bytes": 100}
        for path, size in (
            ("/v1/tickets/1/messages", 101),
            ("/v1/tickets/1/notes", 11),
            ("/v1/tickets/1/messages/x", 11),
        ):
            r = await client.post(path, content=b"x" * size)
            assert (r.status_code, r.json()["error"]["code"]) == (413, "body_too_large"), path
        assert (await client.post("/v1/tickets/1/notes", content=b"x" * 10)).status_code == 200
