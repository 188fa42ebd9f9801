"""Fault run: what tracking costs a request when the database or Redis misbehaves (issue 15).

    .venv/bin/python -m loadtest.faults            # the full run (~3 min)
    .venv/bin/python -m loadtest.faults --quick    # the CI variant (~1.5 min, 45-faults.sh)

Real servers on 127.0.0.1, as ``python -m loadtest``: uvicorn (2 workers, AsyncGraphQLView)
and gunicorn (2 gthread workers x 4 threads, GraphQLView), each serving the schema with the
extension at ``/graphql/`` and without it at ``/graphql-plain/``; PostgreSQL database
``loadtest_faults_strawberry_activity`` (created and dropped here), Redis db 9 as the
shared gate, reached through a local proxy (``loadtest.netfaults``, a process of its own)
so Redis itself is never touched. The project's CACHES set no Redis timeout: the bound is the
package's (``CACHE_TIMEOUT``, ``DB_TIMEOUT``).

An open-loop load (``--rate`` mutations a second, whatever the latency, so a slow server
cannot slow the load down and hide its own latency) of ``sendMoney``, each one a random
user, server and endpoint (with / without the extension: interleaved). Phases, one after
the other, each fault followed by a recovery:

- ``baseline``: no fault.
- ``table-lock``: ``LOCK TABLE strawberry_activity_useractivity IN ACCESS EXCLUSIVE MODE``
  held by another connection.
- ``row-lock``: ``SELECT ... FOR UPDATE`` on one user's row, while that user sends
  ``--hot-rate`` mutations a second beside the load (reported apart as ``locked user``).
- ``redis-slow``: the proxy forwards every packet 2 s late.
- ``redis-hang``: the proxy accepts and never answers.

After each fault (and the breaker's retry delay for Redis), every user who sent a tracked
mutation during the fault sends one more: each must then be recorded (stored time within
``COOLDOWN`` of their last mutation). Reported per phase: p50 / p99 / max latency of the
mutations with and without the extension, the p99 difference, warnings logged.

Exit status 1 when a tracked p99 exceeds the plain one by more than ``--budget`` seconds
during a fault, a response differs from the plain one, a user is not recorded after a
fault, or the warnings are not bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from loadtest.load import expected_responses, login_all, post
from loadtest.netfaults import ProxyProcess
from loadtest.report import percentile
from loadtest.servers import Server, start_servers, stop_servers
from loadtest.services import (
    MUTATION,
    PG,
    REDIS_PORT,
    create_database,
    drop_database,
    log,
    prepare_app,
    sql,
)
from strawberry_activity.cooldown import BREAKER_RETRY_AFTER

DATABASE = "loadtest_faults_strawberry_activity"
REDIS_DB = 9
TABLE = "strawberry_activity_useractivity"
SLACK = 1.0  # as in python -m loadtest: the Redis TTL starts a few ms after its timestamp


@dataclass
class Phase:
    name: str
    fault: float  # seconds the fault lasts (0: none)
    recovery: float  # seconds of load after it


@dataclass
class Sample:
    sent: float
    latency: float
    tracked: bool
    user: int
    verdict: str
    server: str
    hot: bool = False


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # fault start, end
    sweeps: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- the database faults (another connection, as a migration or a DBA would) ---------------


def hold_lock(
    statement: str, params: tuple[Any, ...], seconds: float, held: threading.Event
) -> None:
    """Run ``statement`` in a transaction, keep it open ``seconds``, roll back."""
    with psycopg.connect(f"{PG}/{DATABASE}") as conn:
        conn.execute(statement, params)
        held.set()
        time.sleep(seconds)
        conn.rollback()


def redis_flush() -> None:
    subprocess.run(
        ["redis-cli", "-p", str(REDIS_PORT), "-n", str(REDIS_DB), "flushdb"],
        capture_output=True,
        check=True,
    )


# -- the load ------------------------------------------------------------------------------


async def drive(
    servers: list[Server],
    cookies: list[str],
    expected: dict[tuple[str, str], tuple[int, str, bytes]],
    client: httpx.AsyncClient,
    proxy: ProxyProcess,
    phases: list[Phase],
    args: argparse.Namespace,
    run: Run,
) -> None:
    rng = random.Random(15)
    hot_user = 0  # the row-lock user: kept out of the random load
    in_flight = asyncio.Semaphore(args.max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(user: int, tracked: bool, *, hot: bool = False, keep: bool = True) -> None:
        server = rng.choice(servers)
        body = MUTATION.format(amount=rng.randint(1, 5))
        path = "/graphql/" if tracked else "/graphql-plain/"
        async with in_flight:
            sent, t0 = time.time(), time.perf_counter()
            verdict = await post(client, server, path, body, cookies[user], expected)
            if keep:
                run.samples.append(
                    Sample(sent, time.perf_counter() - t0, tracked, user, verdict, server.name, hot)
                )

    def spawn(*a: Any, **kw: Any) -> None:
        task = asyncio.create_task(one(*a, **kw))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def load(seconds: float, hot_rate: float = 0.0) -> None:
        """Open loop: a request every 1/rate s (and the hot user's every 1/hot_rate s)."""
        start = time.monotonic()
        next_at, next_hot = start, start
        while (now := time.monotonic()) < start + seconds:
            if now >= next_at:
                spawn(rng.randrange(1, len(cookies)), rng.random() < 0.5)
                next_at += rng.expovariate(args.rate)
            if hot_rate and now >= next_hot:
                spawn(hot_user, rng.random() < 0.5, hot=True)
                next_hot += 1 / hot_rate
            await asyncio.sleep(max(0.0, min(next_at, next_hot if hot_rate else next_at) - now))

    async def sweep(name: str, start: float, end: float) -> None:
        """Everyone who sent a tracked mutation during the fault sends one more now (16 at
        a time: a burst would measure the load generator, not the servers)."""
        users = sorted({s.user for s in run.samples if s.tracked and start <= s.sent < end})
        gate = asyncio.Semaphore(16)
        sent: dict[int, float] = {}

        async def again(user: int) -> None:
            async with gate:
                sent[user] = time.time()
                await one(user, True, keep=False)

        await asyncio.gather(*(again(u) for u in users))
        await asyncio.sleep(0.5)
        run.sweeps[name] = {"users": users, "sent": sent}

    for phase in phases:
        log(f"phase {phase.name}: fault {phase.fault:.0f} s, then {phase.recovery:.0f} s")
        start = time.time()
        if phase.name == "baseline":
            await load(phase.fault)
        elif phase.name in ("table-lock", "row-lock"):
            held = threading.Event()
            if phase.name == "table-lock":
                statement = f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE"
                params: tuple[Any, ...] = ()
            else:
                statement = (
                    f"SELECT 1 FROM {TABLE} a JOIN auth_user u ON u.id = a.user_id "
                    "WHERE u.username = %s FOR UPDATE OF a"
                )
                params = (f"user{hot_user:04d}",)
            locker = asyncio.create_task(
                asyncio.to_thread(hold_lock, statement, params, phase.fault, held)
            )
            await asyncio.to_thread(held.wait, 10)
            start = time.time()
            await load(phase.fault, args.hot_rate if phase.name == "row-lock" else 0.0)
            await locker
        else:
            proxy.set_mode("slow" if phase.name == "redis-slow" else "hang", delay=2.0)
            try:
                await load(phase.fault)
            finally:
                proxy.set_mode("pass")
        end = time.time()
        run.windows[phase.name] = (start, end)
        await load(phase.recovery)
        if phase.fault and phase.name != "baseline":
            await sweep(phase.name, start, end)
    if tasks:
        await asyncio.wait(tasks, timeout=120)


# -- the report ----------------------------------------------------------------------------


def latency(samples: list[Sample]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for tracked in (True, False):
        values = [s.latency for s in samples if s.tracked is tracked and s.verdict == "ok"]
        row["with" if tracked else "without"] = {
            "n": len(values),
            "p50_ms": round(1000 * percentile(values, 0.50), 1),
            "p99_ms": round(1000 * percentile(values, 0.99), 1),
            "max_ms": round(1000 * max(values), 1) if values else math.nan,
        }
    row["added_p99_ms"] = round(row["with"]["p99_ms"] - row["without"]["p99_ms"], 1)
    return row


def read_warnings(servers: list[Server]) -> list[float]:
    times = []
    for server in servers:
        for line in server.log.read_text(errors="replace").splitlines():
            if " strawberry_activity WARNING " in line:
                try:
                    times.append(float(line.split(" ", 1)[0]))
                except ValueError:
                    times.append(math.nan)
    return times


def report(
    run: Run,
    names: list[str],
    phases: list[Phase],
    warnings: list[float],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    stored = {
        username: ts.timestamp()
        for username, ts in sql(
            "SELECT u.username, a.last_activity_at FROM strawberry_activity_useractivity a "
            "JOIN auth_user u ON u.id = a.user_id WHERE a.kind = 'default'"
        )
    }
    figures: dict[str, Any] = {"rate": args.rate, "cooldown_s": args.cooldown, "phases": {}}
    bounds = {p.name: p for p in phases}
    for name, (start, end) in run.windows.items():
        during = [s for s in run.samples if start <= s.sent < end]
        ends = end + bounds[name].recovery
        row: dict[str, Any] = {
            "fault_s": round(end - start, 1),
            "mutations": latency([s for s in during if not s.hot]),
            "warnings": sum(start <= w < ends for w in warnings),
            "changed": sum(s.tracked and s.verdict not in ("ok", "transport") for s in during),
            "errors": sum(s.verdict != "ok" for s in during),
        }
        for server in ("async", "sync"):
            row[server] = latency([s for s in during if not s.hot and s.server == server])
        if any(s.hot for s in during):
            row["locked_user"] = latency([s for s in during if s.hot])
        sweep = run.sweeps.get(name)
        if sweep is not None:
            missing = [
                u
                for u in sweep["users"]
                if stored.get(names[u], -math.inf) < sweep["sent"][u] - args.cooldown - SLACK
            ]
            row["recorded_after"] = f"{len(sweep['users']) - len(missing)}/{len(sweep['users'])}"
            for u in missing[:5]:
                tracked = [
                    f"{s.sent - start:.2f}:{s.verdict}"
                    for s in run.samples
                    if s.user == u and s.tracked
                ]
                problems.append(
                    f"{name}: {names[u]} not recorded after the fault: stored "
                    f"{stored.get(names[u], math.nan) - start:.2f} s after the fault began, "
                    f"swept at {sweep['sent'][u] - start:.2f}, tracked mutations at {tracked}"
                )
        if row["changed"]:
            problems.append(f"{name}: {row['changed']} responses changed by tracking")
        if name != "baseline":
            for part in ("mutations", "locked_user"):
                added = row.get(part, {}).get("added_p99_ms", 0)
                if added > 1000 * args.budget:
                    problems.append(
                        f"{name}: tracking added {added} ms to the p99 of {part} "
                        f"(budget {1000 * args.budget:.0f} ms)"
                    )
            # Tracking that holds every server thread slows the plain requests too, which
            # the difference above cannot see: compare them with the baseline's.
            base = figures["phases"].get("baseline")
            if base is not None:
                plain = row["mutations"]["without"]["p99_ms"]
                row["plain_vs_baseline_p99_ms"] = delta = round(
                    plain - base["mutations"]["without"]["p99_ms"], 1
                )
                if delta > 1000 * args.budget:
                    problems.append(
                        f"{name}: the p99 of mutations without the extension rose {delta} ms "
                        f"over the baseline's (budget {1000 * args.budget:.0f} ms)"
                    )
        figures["phases"][name] = row
    # One line a minute per process and cause (tracking.WARNING_INTERVAL): 4 processes,
    # at most 2 causes a fault (the gate, the write), plus one minute boundary each.
    bound = 4 * 2 * 2 * (len(run.windows) - 1)
    figures["warnings"] = len(warnings)
    figures["warning_bound"] = bound
    if len(warnings) > bound:
        problems.append(f"{len(warnings)} warnings logged, more than {bound}")
    return figures, problems


def print_report(figures: dict[str, Any], problems: list[str]) -> None:
    print()
    print(f"open-loop {figures['rate']} mutations/s, COOLDOWN {figures['cooldown_s']} s")
    print(
        f"{'phase':<12} {'fault':>6} {'n with/without':>15} {'p50 with/without':>18} "
        f"{'p99 with/without':>18} {'max with/without':>18} {'+p99':>8} {'warn':>5} recorded"
    )

    def line(label: str, fault: str, r: dict[str, Any], warn: str, recorded: str) -> None:
        w, o = r["with"], r["without"]
        print(
            f"{label:<12} {fault:>6} {w['n']:>7}/{o['n']:<7} "
            f"{w['p50_ms']:>8}/{o['p50_ms']:<9} {w['p99_ms']:>8}/{o['p99_ms']:<9} "
            f"{w['max_ms']:>8}/{o['max_ms']:<9} {r['added_p99_ms']:>8} {warn:>5} {recorded}"
        )

    for name, row in figures["phases"].items():
        line(
            name,
            f"{row['fault_s']}s",
            row["mutations"],
            str(row["warnings"]),
            row.get("recorded_after", "-")
            + (
                f" (plain p99 {row['plain_vs_baseline_p99_ms']:+} ms vs baseline)"
                if "plain_vs_baseline_p99_ms" in row
                else ""
            ),
        )
        for server in ("async", "sync"):
            line(f"  {server}", "", row[server], "", "")
        if "locked_user" in row:
            line("  its user", "", row["locked_user"], "", "")
    print(f"(ms; warnings: {figures['warnings']} in all, bound {figures['warning_bound']})")
    print()
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
    else:
        print("PASSED: tracking stayed within the budget under every fault, nobody lost")


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the CI variant (shorter phases)")
    parser.add_argument("--users", type=int, default=400, help="distinct users (400)")
    parser.add_argument("--rate", type=float, default=40.0, help="mutations a second (40)")
    parser.add_argument("--hot-rate", type=float, default=4.0, help="the locked user's (4/s)")
    parser.add_argument("--cooldown", type=int, default=10, help="COOLDOWN in seconds (10)")
    parser.add_argument("--max-in-flight", type=int, default=256, help="requests at once")
    parser.add_argument("--budget", type=float, default=0.1, help="p99 tracking may add (0.1 s)")
    parser.add_argument("--only", help="comma-separated phases to run (default: all)")
    parser.add_argument("--cache-timeout", help="CACHE_TIMEOUT for the servers")
    parser.add_argument("--db-timeout", help='DB_TIMEOUT for the servers ("none": no bound)')
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    # After a fault, the breakers probe again after their delays: the database's
    # (tracking.DATABASE_BREAKER_RETRY_AFTER, 5 s), and the gate's (10 s).
    fault, recovery = (8.0, 7.0) if args.quick else (20.0, 8.0)
    gate_recovery = BREAKER_RETRY_AFTER + 2
    phases = [
        Phase("baseline", fault, 0),
        Phase("table-lock", fault, recovery),
        Phase("row-lock", 15.0 if not args.quick else 6.0, recovery),
        Phase("redis-slow", fault, gate_recovery),
        Phase("redis-hang", fault, gate_recovery),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        phases = [p for p in phases if p.name in wanted or p.name == "baseline"]

    proxy = ProxyProcess(REDIS_PORT)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loadtest.settings",
        "LOADTEST_DATABASE_URL": f"{PG}/{DATABASE}",
        "LOADTEST_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{REDIS_DB}",
        "LOADTEST_COOLDOWN": str(args.cooldown),
        "LOADTEST_CACHE_TIMEOUT": args.cache_timeout or "",
        "LOADTEST_DB_TIMEOUT": args.db_timeout or "",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    os.environ.update({k: env[k] for k in env if k.startswith(("LOADTEST_", "DJANGO_"))})
    logs = Path(tempfile.mkdtemp(prefix="loadtest-faults-"))
    servers: list[Server] = []
    run = Run()
    try:
        redis_flush()
        log(f"creating {DATABASE} with {args.users} users")
        create_database(DATABASE)
        names = prepare_app(args.users)
        from strawberry_activity.tracking import DATABASE_BREAKER_RETRY_AFTER

        assert recovery >= DATABASE_BREAKER_RETRY_AFTER + 2, "recovery shorter than the breaker"
        log("starting uvicorn (AsyncGraphQLView) and gunicorn (GraphQLView), 2 workers each")
        servers = start_servers(env, logs)

        async def go() -> None:
            limits = httpx.Limits(max_connections=args.max_in_flight + 8)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                log("logging users in")
                cookies = await login_all(client, servers[1], names, 32)
                expected = await expected_responses(client, servers, cookies[0])
                log(f"waiting out the logins' cooldown ({args.cooldown} s)")
                await asyncio.sleep(args.cooldown + 1)
                await drive(servers, cookies, expected, client, proxy, phases, args, run)

        asyncio.run(go())
        time.sleep(0.5)
        stop_servers(servers)
        figures, problems = report(run, names, phases, read_warnings(servers), args)
        print_report(figures, problems)
        print(f"server logs: {logs}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 1 if problems else 0
    finally:
        proxy.close()
        stop_servers(servers)
        from django.db import connections

        if "django" in sys.modules and hasattr(connections, "close_all"):
            connections.close_all()
        drop_database(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
