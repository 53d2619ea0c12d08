"""The quiet uvicorn server: a tick a second instead of ten, yet a stop is taken at once and the
`Date` header stays current."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import uvicorn

from ticketloop_embedded.ports import free_port
from ticketloop_shared.serving import QuietServer


async def app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_the_server_ticks_once_a_second_stops_at_once_and_keeps_its_date_header_current() -> None:
    port = free_port()
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    ticks: list[int] = []
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    while not server.started:
        await asyncio.sleep(0.01)
    started = len(ticks)
    await asyncio.sleep(2.5)
    assert 2 <= len(ticks) - started <= 3, f"{len(ticks) - started} ticks in 2.5 s (uvicorn's own: 25)"
    assert all(c % 10 == 0 for c in ticks), "every tick refreshes the Date header"

    async with httpx.AsyncClient() as client:
        r = await client.get(f"http://127.0.0.1:{port}/")
    assert abs(parsedate_to_datetime(r.headers["date"]).timestamp() - time.time()) < 2.0

    asked = loop.time()
    server.should_exit = True  # what the exit signal handler sets, then wakes the loop
    server.wake()
    await asyncio.wait_for(task, 5)
    assert loop.time() - asked < 0.5, "the stop did not wait for the next tick"
