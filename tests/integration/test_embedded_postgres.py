"""The embedded PostgreSQL asks every connection for this install's password: a connection
without it is refused (over TCP and the local socket), a data folder made when it trusted every
local user is switched over on its next start with its data intact, and the password rotates."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import Infra
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import EmbeddedPostgres
from ticketloop_shared.db import asyncpg_dsn


async def refused(dsn: str, **kwargs: object) -> bool:
    """Whether the server refuses this connection for want of the right password."""
    try:
        conn = await asyncpg.connect(dsn, **kwargs)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return True
    await conn.close()
    return False


async def test_a_connection_without_the_password_is_refused(infra: Infra, tmp_path: Path) -> None:
    server = infra.pg
    # no ~/.pgpass or PGPASSFILE may stand in for the missing password
    empty_passfile = tmp_path / "pgpass"
    empty_passfile.write_text("")
    empty_passfile.chmod(0o600)
    assert await refused(asyncpg_dsn(server.url("postgres", with_password=False)), passfile=str(empty_passfile))
    assert await refused(
        f"postgresql://postgres@/postgres?host={server.data_dir}&port={server.port}", passfile=str(empty_passfile)
    )  # the local socket asks too
    assert await refused(asyncpg_dsn(server.url("postgres", with_password=False)), password="not-the-password")
    assert not await refused(asyncpg_dsn(server.url("postgres")))
    assert server.password_file.stat().st_mode & 0o077 == 0  # only its owner reads it


@pytest.fixture
def folder() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ticketloop-pgauth-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_a_data_folder_that_trusted_everyone_requires_the_password_from_its_next_start(folder: Path) -> None:
    server = EmbeddedPostgres(folder / "pg", free_port(), durable=False)
    # the data folder as the code before passwords made it: initdb --auth=trust, data written
    server._prepare()
    server._run("initdb", ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"], timeout=120)
    options = f"-h 127.0.0.1 -p {server.port} -k {server.data_dir}"
    server._run("pg_ctl", ["-w", "-o", options, "-l", str(server.log_file), "start"], timeout=90)
    try:
        plain = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        conn = await asyncpg.connect(plain, password="")
        await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")
        await conn.close()
        assert not server.password_file.exists()

        await asyncio.to_thread(server.start)  # the new code: stops it, sets the password, restarts
        assert await refused(plain, password="")
        conn = await asyncpg.connect(asyncpg_dsn(server.url("postgres")))
        assert await conn.fetchval("SELECT note FROM kept") == "still here"
        await conn.close()

        # rotation: with the server stopped, a new password; the old one is refused afterwards
        old = server.password
        await asyncio.to_thread(server.stop)
        with_old = asyncpg_dsn(server.url("postgres"))
        await asyncio.to_thread(server.rotate_password)
        assert server.password != old
        await asyncio.to_thread(server.start)
        assert await refused(with_old)
        assert not await refused(asyncpg_dsn(server.url("postgres")))
    finally:
        await asyncio.to_thread(server.stop, immediate=True)


def test_rotating_while_the_server_runs_is_refused(infra: Infra) -> None:
    with pytest.raises(RuntimeError, match="stop the stack first"):
        infra.pg.rotate_password()


def test_the_server_is_given_only_a_verifier_never_the_password(infra: Infra) -> None:
    result = subprocess.run(
        ["grep", "-rl", "--", infra.pg.password, str(infra.pg.data_dir)], capture_output=True, check=False
    )
    assert result.stdout == b""  # not in any file of the data folder (pg_authid, the log, ...)


def test_running_follows_the_server_through_a_kill_a_reused_pid_and_a_stop(folder: Path) -> None:
    """What the supervisor asks every second (from the pid file and /proc, no `pg_ctl`)."""
    server = EmbeddedPostgres(folder / "pg", free_port(), durable=False)
    assert not server.running()
    server.start()
    try:
        assert server.running()
        server.kill()  # its pid file stays behind, naming a process that is gone
        pid_file = server.data_dir / "postmaster.pid"
        assert pid_file.exists() and not server.running()
        written = pid_file.read_text()
        pid_file.write_text("\n".join([str(os.getpid()), *written.split("\n")[1:]]))
        assert not server.running(), "a pid reused by another program is not the server"
        pid_file.write_text(written)
        server.start()  # crash recovery
        assert server.running()
    finally:
        server.stop()
    assert not server.running()
