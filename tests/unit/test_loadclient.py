"""The bench's load client against a tiny real HTTP server on a port the test picks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ticketloop_embedded.loadclient import Result, closed_loop, open_loop, post_request


@pytest.fixture
async def server() -> AsyncIterator[int]:
    """Answers every request on a keep-alive connection with 201 and a small JSON body."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        try:
            while True:
                length = 0
                line = await reader.readline()
                if not line:
                    return
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                n += 1
                status = b"201 Created" if n % 10 else b"503 Service Unavailable"
                body = b'{"id":"x"}'
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        finally:
            writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        srv.close()
        await srv.wait_closed()


def request(_: int) -> bytes:
    return post_request("/v1/tickets", b'{"a":1}', {"X-Api-Key": "k"})


async def test_closed_loop_sends_every_request_and_counts_statuses(server: int) -> None:
    result = await closed_loop(server, request, total=200, concurrency=1, keep_bodies=True)
    assert sum(result.statuses.values()) == 200 and result.errors == 0
    assert result.statuses[503] == 20  # every tenth answer
    assert result.ok == 180 and len(result.bodies) == 180
    assert 0 < result.percentile(50) <= result.percentile(99)


async def test_open_loop_keeps_its_timetable(server: int) -> None:
    result = await open_loop(server, request, rate=200, seconds=0.5)
    assert sum(result.statuses.values()) == 100
    assert 0.45 <= result.finished - result.started < 1.5


async def test_open_loop_follows_each_success_on_its_connection(server: int) -> None:
    followed = Result()
    asked: list[tuple[int, bytes]] = []

    def follow(i: int, body: bytes) -> bytes | None:
        asked.append((i, body))
        return request(i) if i % 2 == 0 else None

    result = await open_loop(server, request, rate=200, seconds=0.2, follow=follow, followed=followed)
    assert sum(result.statuses.values()) == 40
    assert all(body == b'{"id":"x"}' for _, body in asked) and len(asked) == sum(
        n for s, n in result.statuses.items() if 200 <= s < 300
    )
    assert sum(followed.statuses.values()) == len([i for i, _ in asked if i % 2 == 0])
