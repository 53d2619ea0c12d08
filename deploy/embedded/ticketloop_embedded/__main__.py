"""`ticketloop run` (the whole system, embedded), `ticketloop token`, `ticketloop rotate-db-password`,
`ticketloop retention`, `ticketloop bench`, `ticketloop chaos`, `ticketloop bench-workspace`,
`ticketloop bench-webhooks`."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ticketloop_embedded import emailgw
from ticketloop_embedded.services import PROCESSES
from ticketloop_embedded.stack import Stack, StackConfig, parse_replicas
from ticketloop_shared.auth import Role, token_for
from ticketloop_shared.settings import EMBEDDED_BROKER_PORT, EMBEDDED_PG_PORT, PlatformSettings

DEV_CHANNEL_KEY = "tl-dev-channel-key"


def say(message: str) -> None:
    """Progress for a person watching the terminal."""
    print(f"[ticketloop] {message}", flush=True)  # noqa: T201


def say_progress(message: str) -> None:
    """Progress on stderr, for commands whose stdout carries their result."""
    print(f"[ticketloop] {message}", file=sys.stderr, flush=True)  # noqa: T201


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def config_from_env(replicas: dict[str, int] | None = None) -> StackConfig:
    """Ports and folder of the embedded stack (`TICKETLOOP_EMBEDDED_*`), and the processes per
    service (`TICKETLOOP_<SERVICE>_REPLICAS`, overridden by `replicas`)."""
    env = os.environ
    from_env = {s.name: int(env.get(f"{s.env_prefix}REPLICAS", "1")) for s in PROCESSES}
    return StackConfig(
        data_dir=Path(env.get("TICKETLOOP_EMBEDDED_DATA_DIR", ".ticketloop")).resolve(),
        pg_port=int(env.get("TICKETLOOP_EMBEDDED_PG_PORT", EMBEDDED_PG_PORT)),
        broker_port=int(env.get("TICKETLOOP_EMBEDDED_BROKER_PORT", EMBEDDED_BROKER_PORT)),
        service_ports={s.name: int(env.get(f"{s.env_prefix}HTTP_PORT", s.default_port)) for s in PROCESSES},
        # The five services and the staff workspace in front of them.
        services=PROCESSES,
        replicas={**from_env, **(replicas or {})},
        # routing's second replica on 8102, its third on 8202, ... (with the default ports)
        replica_port_step=int(env.get("TICKETLOOP_EMBEDDED_REPLICA_PORT_STEP", "100")),
        split=frozenset(s for s in env.get("TICKETLOOP_EMBEDDED_SPLIT", "").split(",") if s),
    )


def _secret_file_default(config: StackConfig) -> dict[str, Any]:
    """Point at the data folder's secret unless the environment names a secret or a file."""
    if "TICKETLOOP_AUTH_SECRET" in os.environ or "TICKETLOOP_AUTH_SECRET_FILE" in os.environ:
        return {}
    return {"auth_secret_file": config.data_dir / "auth-secret"}


# The staff of the README's tour: what each `token` command of the welcome is given.
DEVELOPMENT_TOKENS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("agent token", ("--role", "agent", "--sub", "agent-fin-1", "--name", "Ravi Iyer", "--department", "finance")),
    (
        "supervisor token",
        ("--role", "supervisor", "--sub", "sup-fin", "--name", "Finance lead", "--department", "finance"),
    ),
    ("admin token", ("--role", "admin", "--sub", "admin", "--name", "Admin")),
    ("notifier token", ("--role", "notifier", "--sub", "mailer", "--name", "Mailer")),
)


def token_command(args: Sequence[str]) -> str:
    """The shell command that prints a token (this environment's `ticketloop`, relative to the
    working folder when it is inside it, as the README writes it)."""
    program = Path(sys.executable).parent / "ticketloop"
    try:
        shown = str(program.relative_to(Path.cwd()))
    except ValueError:
        shown = str(program)
    return shlex.join([shown, "token", *args])


def print_welcome(stack: Stack) -> None:
    """URLs and development credentials: everything the README's tour needs."""
    platform = stack.platform()
    say("")
    say("ticketloop is running. Services (OpenAPI docs at <url>/docs):")
    for name, proc in stack.services.items():
        say(f"  {name:<14} {proc.url}")
    # The commands, never the tokens: a run log is read and kept by more people than a token
    # should reach, and each command mints a fresh token signed with this install's secret.
    say(f"Development credentials (tokens live {platform.token_ttl_hours:g} h; secret: {platform.auth_secret_file}):")
    say(f"  channel API key   X-Api-Key: {os.environ.get('TICKETLOOP_INTAKE_DEV_CHANNEL_KEY', DEV_CHANNEL_KEY)}")
    for label, args in DEVELOPMENT_TOKENS:
        say(f"  {label:<17} {token_command(args)}")
    workspace = stack.services.get("workspace")
    if workspace is not None:
        say(f"Staff workspace: {workspace.url}/workspace  (sign in by pasting an agent or supervisor token")
        say("  the command above prints)")
    if "emailgw" in stack.services:
        for line in emailgw.welcome_lines(stack):
            say(line)
    say(f"Logs: {stack.config.data_dir / 'logs'}   Stop: Ctrl-C")


def replicas_arg(text: str) -> dict[str, int]:
    """argparse type of `--replicas routing=3,sla=2`."""
    try:
        return parse_replicas(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(replicas: dict[str, int] | None = None) -> int:
    """Start everything, restart what dies, stop everything on Ctrl-C or SIGTERM."""
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    stack = Stack(config_from_env(replicas), say=say)
    try:
        stack.start()
        if emailgw.enabled():
            say(f"emailgw: starting on http://127.0.0.1:{emailgw.EMAILGW.default_port} (SMTP in, webhooks in)")
            emailgw.start_email_gateway(stack)
            say("emailgw: ready")
        print_welcome(stack)
        backoff: dict[str, float] = {}
        while True:
            time.sleep(1)
            for name in stack.dead():
                if name == "postgres":
                    say("PostgreSQL died; restarting it (committed data survives; services wait and retry)")
                    stack.restart_postgres()
                    say("PostgreSQL restarted")
                    continue
                if name == "broker":
                    say("broker died; restarting it. It is memory-only, so it starts empty")
                    stack.restart_broker()
                    say("broker restarted with a new cluster id: services republish their outbox window and re-read")
                    continue
                proc = stack.services[name]
                status = proc.process.poll() if proc.process else None
                say(f"{name} exited with status {status}; restarting (log: {proc.log_path})")
                time.sleep(backoff.get(name, 0))
                backoff[name] = min(backoff.get(name, 0.5) * 2, 30)
                proc.restarts += 1
                proc.start()
    except _Stop:
        say("stopping: services, then the broker, then PostgreSQL")
        return 0
    except Exception as exc:
        say(f"failed: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        say("stopped")


def token(role: str, sub: str, name: str, department: str | None, ttl: int | None) -> int:
    """Print a bearer token signed with this install's secret (the one `ticketloop run` uses)."""
    platform = PlatformSettings(**_secret_file_default(config_from_env()))
    try:
        issued = token_for(platform, sub=sub, role=Role(role), name=name or sub, department=department, ttl_seconds=ttl)
    except ValueError as exc:
        say(f"ticketloop token: {exc} (--department)")
        return 2
    print(issued)  # noqa: T201
    return 0


def rotate_db_password() -> int:
    """Give the embedded PostgreSQL a new password (the stack stopped) and write it to this
    install's password file; the next `ticketloop run` uses it."""
    stack = Stack(config_from_env())
    try:
        stack.pg.rotate_password()
    except RuntimeError as exc:
        say(f"rotate-db-password: {exc}")
        return 1
    say(f"PostgreSQL has a new password, in {stack.pg.password_file}; start the stack again to use it")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `ticketloop` command."""
    parser = argparse.ArgumentParser(prog="ticketloop", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run_cmd = sub.add_parser("run", help="run the whole system on embedded PostgreSQL and Tansu")
    run_cmd.add_argument(
        "--replicas",
        type=replicas_arg,
        default={},
        metavar="SERVICE=N,...",
        help="processes per service, one consumer group each (e.g. routing=3,sla=2); replica n of a service "
        "listens on its port + (n-1)*100 (TICKETLOOP_EMBEDDED_REPLICA_PORT_STEP)",
    )
    tok = sub.add_parser("token", help="print a staff bearer token")
    tok.add_argument("--role", choices=[r.value for r in Role], default="agent")
    tok.add_argument("--sub", default="dev-agent")
    tok.add_argument("--name", default="")
    tok.add_argument("--department", default=None, help="the department an agent or supervisor works in (required)")
    tok.add_argument(
        "--ttl", type=int, default=None, help="seconds until it expires (default: TICKETLOOP_TOKEN_TTL_HOURS, 12 h)"
    )
    sub.add_parser(
        "rotate-db-password",
        help="with the stack stopped: a new password for the embedded PostgreSQL, written to its password file",
    )
    keep = sub.add_parser(
        "retention",
        help="with the stack running: erase or delete what is past each service's retention limit, and say what",
    )
    keep.add_argument("--dry-run", action="store_true", help="only count what would be erased or deleted")
    bench = sub.add_parser("bench", help="measure the loop on a throw-away embedded stack")
    bench.add_argument(
        "--tickets", type=int, default=25_000, help="tickets in the burst (the mix: about 20,800 distinct customers)"
    )
    bench.add_argument(
        "--body",
        choices=("mix", "simple"),
        default="mix",
        help="mix: many new customers, every channel, live sessions, 200-2,000-character descriptions, repeat "
        "contacts; simple: the friendly body of earlier runs (one channel, 5,000 customers, a short text)",
    )
    bench.add_argument("--concurrency", type=int, default=64, help="keep-alive connections posting at once")
    bench.add_argument("--rate", type=float, default=100, help="tickets/s of the steady part")
    bench.add_argument("--seconds", type=float, default=20, help="length of the steady part")
    bench.add_argument("--skip-baseline", action="store_true")
    bench.add_argument(
        "--replicas",
        type=replicas_arg,
        default={},
        metavar="SERVICE=N,...",
        help="processes per service sharing its consumer group (e.g. routing=2,sla=2): the bench then reports "
        "partitions, events handled and lag per replica, and checks nothing was handled twice",
    )
    bench.add_argument(
        "--routing-replicas", type=int, default=None, help="the same as --replicas routing=N (kept for old scripts)"
    )
    bench.add_argument(
        "--split", nargs="*", default=[], help="services whose events a separate <name>-worker process consumes"
    )
    bench.add_argument("--json", type=Path, default=Path("bench-result.json"), help="where to write the figures")
    sla = sub.add_parser("bench-sla", help="a million open SLA clocks: how late each breach is announced")
    sla.add_argument("--clocks", type=int, default=1_000_000, help="open clocks to load")
    sla.add_argument("--real-seconds", type=float, default=30, help="length of the real-speed phase")
    sla.add_argument("--fast-seconds", type=float, default=60, help="length of the accelerated phase")
    sla.add_argument("--speed", type=float, default=60, help="how much faster the clock runs in the accelerated phase")
    sla.add_argument("--replicas", type=int, default=2, help="sla processes sharing the due clocks")
    sla.add_argument("--json", type=Path, default=Path("bench-sla-result.json"), help="where to write the figures")
    hooks = sub.add_parser("bench-webhooks", help="webhook deliveries: throughput, latency, an outage, CPU cost")
    hooks.add_argument("--cost-rate", type=float, default=50, help="tickets/s of the cost phases")
    hooks.add_argument("--cost-seconds", type=float, default=20, help="length of each cost phase")
    hooks.add_argument("--rate", type=float, default=100, help="tickets/s of the latency phase")
    hooks.add_argument("--seconds", type=float, default=30, help="length of the latency phase")
    hooks.add_argument("--burst-rate", type=float, default=400, help="tickets/s offered while the endpoints are paused")
    hooks.add_argument("--burst-seconds", type=float, default=10, help="length of that burst")
    hooks.add_argument("--outage", type=float, default=60, help="seconds the receiver answers 503 (the issue's: 600)")
    hooks.add_argument("--outage-rate", type=float, default=10, help="tickets/s during the outage")
    hooks.add_argument("--batch", type=int, default=100, help="TICKETLOOP_INTAKE_WEBHOOKS_BATCH")
    hooks.add_argument("--concurrency", type=int, default=50, help="TICKETLOOP_INTAKE_WEBHOOKS_CONCURRENCY")
    hooks.add_argument("--poll", type=float, default=10.0, help="TICKETLOOP_INTAKE_WEBHOOKS_POLL_SECONDS")
    hooks.add_argument(
        "--json", type=Path, default=Path("bench-webhooks-result.json"), help="where to write the figures"
    )
    idle = sub.add_parser("bench-idle", help="the whole embedded stack's CPU with no traffic at all")
    idle.add_argument("--settle", type=float, default=20, help="seconds after the stack is ready before measuring")
    idle.add_argument("--window", type=float, default=60, help="seconds measured")
    idle.add_argument("--json", type=Path, default=Path("bench-idle-result.json"), help="where to write the figures")
    floor = sub.add_parser(
        "bench-floor", help="the event backbone alone (outbox, relay, broker, inbox; no service logic): CPU per event"
    )
    floor.add_argument("--rate", type=float, default=1770, help="events/s written (300 tickets/s x 5.9 events)")
    floor.add_argument("--seconds", type=float, default=20, help="length of the steady window")
    floor.add_argument("--groups", type=int, default=3, help="consumer groups reading every event (the mix: 3.1)")
    floor.add_argument("--per-transaction", type=int, default=2, help="events committed per transaction")
    floor.add_argument(
        "--events-per-ticket", type=float, default=5.9, help="events a mix ticket makes (README: the floor)"
    )
    floor.add_argument("--post-ms", type=float, default=0.94, help="CPU ms of the bare POST (make bench's baseline)")
    floor.add_argument("--json", type=Path, default=Path("bench-floor-result.json"), help="where to write the figures")
    review = sub.add_parser("bench-review", help="weekly and monthly reports over a million tickets")
    review.add_argument("--tickets", type=int, default=1_000_000, help="tickets to load through the bulk path")
    review.add_argument("--repeats", type=int, default=5, help="timed runs of each report")
    review.add_argument(
        "--json", type=Path, default=Path("bench-review-result.json"), help="where to write the figures"
    )
    wsb = sub.add_parser(
        "bench-workspace", help="the staff workspace: pages and searches over 10,000 tickets, live notifications"
    )
    wsb.add_argument("--tickets", type=int, default=10_000, help="open tickets seeded into one department")
    wsb.add_argument("--concurrency", type=int, default=32, help="connections posting the seed")
    wsb.add_argument("--requests", type=int, default=300, help="timed requests of each page and search")
    wsb.add_argument("--connections", type=int, default=200, help="agents holding a live connection")
    wsb.add_argument("--rate", type=float, default=50, help="tickets/s of the steady runs")
    wsb.add_argument("--seconds", type=float, default=30, help="length of each steady run")
    wsb.add_argument(
        "--json", type=Path, default=Path("bench-workspace-result.json"), help="where to write the figures"
    )
    chaos = sub.add_parser("chaos", help="fail every part of a throw-away stack under load, then count")
    chaos.add_argument("--rate", type=float, default=15, help="tickets per second")
    chaos.add_argument("--db-outage", type=float, default=60, help="seconds PostgreSQL stays down")
    chaos.add_argument(
        "--replicas",
        type=replicas_arg,
        default={},
        metavar="SERVICE=N,...",
        help="processes per service (e.g. intake=2,routing=2): the load spread over intake's, each process "
        "killed in turn, PostgreSQL's postmaster SIGKILLed",
    )
    args = parser.parse_args(argv)
    if args.command is None:
        sys.exit(run())
    if args.command == "run":
        sys.exit(run(args.replicas))
    if args.command == "token":
        sys.exit(token(args.role, args.sub, args.name, args.department, args.ttl))
    if args.command == "rotate-db-password":
        sys.exit(rotate_db_password())
    if args.command == "retention":
        from ticketloop_embedded.retention import retention

        sys.exit(retention(config_from_env(), dry_run=args.dry_run, say=say_progress))
    if args.command == "chaos":
        from ticketloop_embedded.chaos import chaos as run_chaos

        sys.exit(run_chaos(rate=args.rate, db_outage=args.db_outage, say=say, replicas=args.replicas))
    if args.command == "bench-idle":
        from ticketloop_embedded.bench_idle import bench_idle

        sys.exit(bench_idle(settle=args.settle, window=args.window, json_path=args.json, say=say))
    if args.command == "bench-floor":
        from ticketloop_embedded.bench_floor import bench_floor

        sys.exit(
            bench_floor(
                rate=args.rate,
                seconds=args.seconds,
                groups=args.groups,
                per_tx=args.per_transaction,
                events_per_ticket=args.events_per_ticket,
                post_ms=args.post_ms,
                json_path=args.json,
                say=say,
            )
        )
    if args.command == "bench-review":
        from ticketloop_embedded.bench_review import bench_review

        sys.exit(bench_review(tickets=args.tickets, repeats=args.repeats, json_path=args.json, say=say))
    if args.command == "bench-workspace":
        from ticketloop_embedded.bench_workspace import bench_workspace

        status = bench_workspace(
            tickets=args.tickets,
            concurrency=args.concurrency,
            requests=args.requests,
            connections=args.connections,
            rate=args.rate,
            seconds=args.seconds,
            json_path=args.json,
            say=say_progress,
        )
        print(args.json.read_text(), end="")  # noqa: T201 - the figures, on stdout
        sys.exit(status)
    if args.command == "bench-webhooks":
        from ticketloop_embedded.bench_webhooks import Options, bench_webhooks, say_to_stderr

        options = Options(
            cost_rate=args.cost_rate,
            cost_seconds=args.cost_seconds,
            rate=args.rate,
            seconds=args.seconds,
            burst_rate=args.burst_rate,
            burst_seconds=args.burst_seconds,
            outage=args.outage,
            outage_rate=args.outage_rate,
            outage_posting=min(args.outage, 60),
            batch=args.batch,
            concurrency=args.concurrency,
            poll=args.poll,
        )
        sys.exit(bench_webhooks(opts=options, json_path=args.json, say=say_to_stderr))
    if args.command == "bench-sla":
        from ticketloop_embedded.bench_sla import bench_sla

        sys.exit(
            bench_sla(
                clocks=args.clocks,
                real_seconds=args.real_seconds,
                fast_seconds=args.fast_seconds,
                speed=args.speed,
                replicas=args.replicas,
                json_path=args.json,
                say=say,
            )
        )
    if args.command == "bench":
        from ticketloop_embedded.bench import bench as run_bench

        sys.exit(
            run_bench(
                tickets=args.tickets,
                concurrency=args.concurrency,
                rate=args.rate,
                seconds=args.seconds,
                skip_baseline=args.skip_baseline,
                json_path=args.json,
                say=say,
                replicas=_bench_replicas(parser, args.replicas, args.routing_replicas),
                split=frozenset(args.split),
                body=args.body,
            )
        )


def _bench_replicas(
    parser: argparse.ArgumentParser, replicas: dict[str, int], routing_replicas: int | None
) -> dict[str, int]:
    if routing_replicas is None:
        return replicas
    if routing_replicas < 1:
        parser.error("--routing-replicas: a service runs at least 1 replica")
    return {**replicas, "routing": routing_replicas}


if __name__ == "__main__":
    main()
