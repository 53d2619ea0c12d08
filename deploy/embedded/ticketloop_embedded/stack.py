"""The whole system on one machine: PostgreSQL, the broker and the five services, started in
order and stopped in reverse (clients first, so the broker stops fast)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ticketloop_embedded.broker import AUTO_CREATED_PARTITIONS, EmbeddedBroker
from ticketloop_embedded.ports import free_port
from ticketloop_embedded.postgres import PASSWORD_FILE, EmbeddedPostgres
from ticketloop_embedded.services import SERVICES, ServiceDef, ServiceProcess
from ticketloop_shared.db import ensure_database
from ticketloop_shared.events import Topics
from ticketloop_shared.messaging.kafka import ensure_topics
from ticketloop_shared.settings import PlatformSettings

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class StackConfig:
    """Where everything lives and listens."""

    data_dir: Path
    pg_port: int
    broker_port: int
    service_ports: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)
    services: tuple[ServiceDef, ...] = SERVICES
    # Processes per service (`{"routing": 2}`): one consumer group, separate HTTP ports. The
    # first runs on the service's port; replica n on that port + (n - 1) * `replica_port_step`,
    # or on a free port when the step is None (tests and benches, whose base ports are free ones).
    replicas: dict[str, int] = field(default_factory=dict)
    replica_port_step: int | None = None
    # Services whose events are consumed by a separate `<name>-worker` process, not the HTTP one.
    split: frozenset[str] = frozenset()
    # A stack whose data is thrown away when it stops (tests): PostgreSQL skips flushing to disk
    # (a killed server still loses nothing) and stops without a shutdown checkpoint.
    scratch: bool = False


def parse_replicas(text: str, services: Iterable[ServiceDef] = SERVICES) -> dict[str, int]:
    """`routing=3,sla=2` as `{"routing": 3, "sla": 2}`; a ValueError says what is wrong."""
    known = [s.name for s in services]
    replicas: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, count = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{part!r}: expected SERVICE=N, e.g. routing=3")
        if name not in known:
            raise ValueError(f"unknown service {name!r} (one of {', '.join(known)})")
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"{part!r}: the number of replicas must be a whole number") from None
        if n < 1:
            raise ValueError(f"{part!r}: a service runs at least 1 replica")
        replicas[name] = n
    return replicas


class Stack:
    """Start, watch and stop the embedded system."""

    def __init__(self, config: StackConfig, say: Say = _quiet) -> None:
        self.config = config
        self.say = say
        self.pg = EmbeddedPostgres(
            config.data_dir / "pg",
            config.pg_port,
            durable=not config.scratch,
            password_file=config.data_dir / PASSWORD_FILE,
        )
        self.broker = EmbeddedBroker(config.broker_port, log_path=config.data_dir / "logs" / "broker.log")
        self.services: dict[str, ServiceProcess] = {}

    @property
    def platform_env(self) -> dict[str, str]:
        """Environment every service gets."""
        return {
            "TICKETLOOP_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            # Secrets generated once per install live in the data folder, not in the repo.
            "TICKETLOOP_AUTH_SECRET_FILE": str(self.config.data_dir / "auth-secret"),
            "TICKETLOOP_INTAKE_MASTER_KEY_FILE": str(self.config.data_dir / "intake-master-key"),
            "TICKETLOOP_FEEDBACK_MASTER_KEY_FILE": str(self.config.data_dir / "feedback-master-key"),
            # So is the database password: services read it from the file, not from their
            # environment (their database URLs name none).
            "TICKETLOOP_DATABASE_PASSWORD_FILE": str(self.pg.password_file),
            # As many partitions as Tansu gives a topic it creates by itself (see broker.py).
            "TICKETLOOP_TOPIC_PARTITIONS": os.environ.get("TICKETLOOP_TOPIC_PARTITIONS", str(AUTO_CREATED_PARTITIONS)),
            **self.config.env,
        }

    def platform(self) -> PlatformSettings:
        """The backbone settings the services run with (env applied)."""
        overrides = {k.removeprefix("TICKETLOOP_").lower(): v for k, v in self.platform_env.items()}
        return PlatformSettings.model_validate(
            {k: v for k, v in overrides.items() if k in PlatformSettings.model_fields}
        )

    def start(self) -> None:
        """Bring everything up; raises (after stopping what started) if any part fails."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        started = time.monotonic()
        self.say(f"PostgreSQL: starting on 127.0.0.1:{self.config.pg_port} (data in {self.pg.data_dir})")
        self.pg.start()
        asyncio.run(self._create_databases())
        self.say(f"broker: starting Tansu on {self.broker.bootstrap} (memory-only)")
        self.broker.start()
        self.create_topics()
        for sdef in self.config.services:
            env = {**self.platform_env, **self.service_env(sdef)}
            copies = [
                (sdef.name if n == 1 else f"{sdef.name}-{n}", self.replica_port(sdef.name, n), env)
                for n in range(1, max(1, self.config.replicas.get(sdef.name, 1)) + 1)
            ]
            if sdef.name in self.config.split:
                copies = [
                    (name, port, {**e, f"{sdef.env_prefix}CONSUMER_ENABLED": "false"}) for name, port, e in copies
                ]
                copies.append((f"{sdef.name}-worker", free_port(), env))
            for name, port, proc_env in copies:
                # The process's name is its replica id: in its logs, metrics and consumer client id.
                proc = ServiceProcess(
                    sdef,
                    port=port,
                    env={**proc_env, f"{sdef.env_prefix}REPLICA_ID": name},
                    log_path=self.config.data_dir / "logs" / f"{name}.log",
                )
                self.services[name] = proc
                self.say(f"{name}: starting on {proc.url}")
                proc.start()
        for name, proc in self.services.items():
            proc.wait_ready(timeout=90)
            self.say(f"{name}: ready")
        self.say(f"all ready in {time.monotonic() - started:.1f}s")

    def service_env(self, sdef: ServiceDef) -> dict[str, str]:
        """A service's own settings from the stack: its database, or (the workspace, which keeps
        none) the address of each service it calls."""
        if sdef.has_database:
            env = {f"{sdef.env_prefix}DATABASE_URL": self.pg.url(sdef.database, with_password=False)}
            if sdef.name == "intake" and "feedback" in self.config.service_ports:
                # Channel webhooks fetch survey links from feedback when they send `survey.due`.
                env[f"{sdef.env_prefix}FEEDBACK_URL"] = f"http://127.0.0.1:{self.config.service_ports['feedback']}"
            return env
        return {
            f"{sdef.env_prefix}{other.name.upper()}_URL": f"http://127.0.0.1:{self.config.service_ports[other.name]}"
            for other in self.config.services
            if other.has_database
        }

    def replica_port(self, service: str, n: int) -> int:
        """The HTTP port of a service's replica `n` (from 1): the service's own port for the
        first, the next ones `replica_port_step` apart (or free ports)."""
        base = self.config.service_ports[service]
        if n == 1:
            return base
        step = self.config.replica_port_step
        return base + (n - 1) * step if step else free_port()

    async def _create_databases(self) -> None:
        for sdef in self.config.services:
            if sdef.has_database:
                try:
                    await ensure_database(self.pg.url(sdef.database))
                except asyncpg.InvalidPasswordError:
                    raise RuntimeError(
                        f"PostgreSQL in {self.pg.data_dir} refused the password in {self.pg.password_file} "
                        "(not the file this data folder was set up with: lost or replaced?). With the stack "
                        "stopped, `ticketloop rotate-db-password` sets a new password (it needs no old one) "
                        "and writes it to that file."
                    ) from None

    def create_topics(self) -> None:
        """Create every topic with its partition count (again after a broker restart)."""
        platform = self.platform()
        asyncio.run(ensure_topics(platform, Topics(platform.topic_prefix).all()))

    def dead(self) -> list[str]:
        """Names of the parts that stopped running."""
        down = [name for name, proc in self.services.items() if not proc.alive()]
        if not self.broker.alive():
            down.append("broker")
        if not self.pg.running():
            down.append("postgres")
        return down

    def restart_postgres(self) -> None:
        """Start PostgreSQL again on its data folder: committed data is intact (crash recovery)."""
        self.pg.start()

    def restart_broker(self) -> None:
        """A new, empty broker on the same port, with the topics recreated."""
        self.broker.stop()
        self.broker.start()
        self.create_topics()

    def stop(self) -> None:
        """Services first (in parallel), then the broker, then PostgreSQL."""
        procs: Iterable[ServiceProcess] = list(self.services.values())
        with ThreadPoolExecutor(max_workers=len(self.config.services)) as pool:
            list(pool.map(lambda p: p.stop(), procs))
        self.broker.stop()
        self.pg.stop(immediate=self.config.scratch)
