"""Load + fault run against real servers, PostgreSQL and Redis.

    .venv/bin/python -m loadtest                 # 60 s of load, faults included (~2 min)
    .venv/bin/python -m loadtest --duration 30   # the shorter CI variant

What it does, on 127.0.0.1 only:

1. Creates the database ``loadtest_strawberry_activity`` (dropped again at the end), migrates
   it, creates ``--users`` users and a trigger that logs every row written to the activity
   table (the write count, without pg_stat_statements).
2. Starts ``uvicorn`` (2 workers, ``AsyncGraphQLView``) and ``gunicorn`` (2 gthread workers,
   ``GraphQLView``); each serves the schema with the extension at ``/graphql/`` and the
   same schema without it at ``/graphql-plain/``. ``COOLDOWN`` is ``--cooldown`` (10 s) and
   the shared gate is Redis db 8.
3. Logs every user in (a session cookie each), waits out the logins' cooldown, then runs a
   bounded asyncio/httpx load: ``--concurrency`` requests in flight, each one a random
   user, server, operation (60 % mutations) and endpoint (with / without the extension).
4. Faults during the load: Redis shut down for 10 s and restarted (always, in a finally),
   and every connection of the load-test database killed once with pg_terminate_backend.
5. Reports requests, errors, p50/p99 latency with and without the extension, database writes
   against the minimum (each user's cooldown windows), warnings logged, and checks that
   every user's stored time is within COOLDOWN of their last mutation.

Exit status 1 when a user was lost, a response was changed by tracking, the warnings were
not bounded or the writes far above the minimum; 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "loadtest_strawberry_activity"
PG = os.environ.get("LOADTEST_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_PORT = 6379
REDIS_DB = 8
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
    "--port", str(REDIS_PORT), "--save", "", "--appendonly", "no",
    "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip
REDIS_OUTAGE = 10.0
# The Redis TTL of a claim starts a few ms after the timestamp it stores: a mutation in
# that gap is (correctly) skipped, so "within COOLDOWN" is checked with this much slack.
SLACK = 1.0
MUTATION = '{{"query": "mutation {{ sendMoney(amount: {amount}) }}"}}'
QUERY = '{"query": "{ hello }"}'


def log(message: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- services ------------------------------------------------------------------------------


def redis_ping() -> bool:
    ping = subprocess.run(
        ["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, check=False
    )
    return ping.stdout.strip() == b"PONG"


def redis_stop() -> None:
    subprocess.run(
        ["redis-cli", "-p", str(REDIS_PORT), "shutdown", "nosave"], capture_output=True, check=False
    )
    for _ in range(50):
        if not redis_ping():
            return
        time.sleep(0.1)
    raise RuntimeError("Redis did not stop")


def redis_start() -> None:
    """Start Redis unless it answers; other people use it, so this must not fail quietly."""
    for _ in range(3):
        if redis_ping():
            return
        Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
        Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
        subprocess.run(REDIS_START, check=False)
        for _ in range(50):
            if redis_ping():
                return
            time.sleep(0.1)
    raise RuntimeError("Redis could not be restarted: start it by hand! " + " ".join(REDIS_START))


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG}/postgres", autocommit=True)


def create_database() -> None:
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def drop_database() -> None:
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def kill_connections() -> int:
    """pg_terminate_backend on every connection of the load-test database (only that one)."""
    with admin() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (DATABASE,),
        ).fetchone()
    return int(row[0]) if row else 0


# -- the app's database (through Django, in this process) ----------------------------------

WRITE_LOG = """
CREATE TABLE loadtest_write (
    id bigserial PRIMARY KEY, user_id bigint, kind varchar(64), ts timestamptz,
    at timestamptz DEFAULT clock_timestamp()
);
CREATE FUNCTION loadtest_log_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loadtest_write (user_id, kind, ts)
    VALUES (NEW.user_id, NEW.kind, NEW.last_activity_at);
    RETURN NULL;
END $$;
CREATE TRIGGER loadtest_log_write AFTER INSERT OR UPDATE ON strawberry_activity_useractivity
    FOR EACH ROW EXECUTE FUNCTION loadtest_log_write();
"""


def prepare_app(users: int) -> list[str]:
    import django
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", verbosity=0)
    password = make_password("pw")
    names = [f"user{i:04d}" for i in range(users)]
    User.objects.bulk_create([User(username=name, password=password) for name in names])
    with connection.cursor() as cursor:
        cursor.execute(WRITE_LOG)
    connection.close()
    return names


def sql(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall() if cursor.description else []
    connection.close()
    return rows


# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_servers(env: dict[str, str], logs: Path) -> list[Server]:
    asgi, wsgi = free_port(), free_port()
    commands = {
        "async": [
            sys.executable, "-m", "uvicorn", "loadtest.asgi:application", "--host",
            "127.0.0.1", "--port", str(asgi), "--workers", "2", "--no-access-log",
            "--timeout-keep-alive", "120",
            "--log-level", "warning",
        ],
        "sync": [
            sys.executable, "-m", "gunicorn", "loadtest.wsgi:application", "--bind",
            f"127.0.0.1:{wsgi}", "--workers", "2", "--worker-class", "gthread",
            "--threads", "4", "--keep-alive", "120", "--log-level", "warning",
        ],
    }  # fmt: skip
    servers = []
    for name, port in (("async", asgi), ("sync", wsgi)):
        path = logs / f"{name}.log"
        process = subprocess.Popen(
            commands[name],
            cwd=ROOT,
            env=env,
            stdout=path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        servers.append(Server(name, port, process, path))
    deadline = time.monotonic() + 60
    for server in servers:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} server exited:\n{server.log.read_text()}")
            try:
                r = httpx.post(
                    f"{server.url}/graphql/",
                    content=QUERY,
                    timeout=2,
                    headers={"content-type": "application/json"},
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} server did not answer")
            time.sleep(0.2)
    return servers


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


# -- the load ------------------------------------------------------------------------------


@dataclass
class Sample:
    sent: float  # wall clock
    latency: float
    server: str
    op: str
    tracked: bool
    user: int
    verdict: str  # ok | app-error | changed | transport


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    killed: int = 0


def classify(response: httpx.Response, expected: tuple[int, str, bytes]) -> str:
    seen = (response.status_code, response.headers.get("content-type", ""), response.content)
    if seen == expected:
        return "ok"
    if response.status_code >= 500:
        return "app-error"
    try:
        errors = json.loads(response.content).get("errors") or []
    except ValueError:
        return "changed"
    # A resolver that hit the dead database reports an error *at its field* (with a path);
    # the extension runs around the whole operation and could only add errors without one.
    if errors and all(e.get("path") for e in errors):
        return "app-error"
    return "changed"


async def login_all(
    client: httpx.AsyncClient, server: Server, names: list[str], concurrency: int
) -> list[str]:
    cookies: list[str] = [""] * len(names)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        body = json.dumps(
            {"query": f'mutation {{ login(username: "{names[i]}", password: "pw") }}'}
        )
        async with gate:
            for attempt in range(3):  # set-up, not measured: a dropped connection is retried
                try:
                    r = await client.post(
                        f"{server.url}/graphql-plain/",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
        assert r.json() == {"data": {"login": True}}, r.text
        cookies[i] = f"sessionid={r.cookies['sessionid']}"

    await asyncio.gather(*(one(i) for i in range(len(names))))
    return cookies


async def expected_responses(
    client: httpx.AsyncClient, servers: list[Server], cookie: str
) -> dict[tuple[str, str], tuple[int, str, bytes]]:
    """What each request looks like without the extension (and checks it is stable)."""
    expected = {}
    bodies = [QUERY] + [MUTATION.format(amount=a) for a in range(1, 6)]
    for server in servers:
        for body in bodies:
            seen = set()
            for path in ("/graphql-plain/", "/graphql-plain/"):
                r = await client.post(
                    f"{server.url}{path}",
                    content=body,
                    headers={"content-type": "application/json", "cookie": cookie},
                )
                seen.add((r.status_code, r.headers.get("content-type", ""), r.content))
            assert len(seen) == 1, seen
            assert next(iter(seen))[0] == 200, seen
            expected[server.name, body] = seen.pop()
    return expected


async def load(
    servers: list[Server],
    cookies: list[str],
    expected: dict[tuple[str, str], tuple[int, str, bytes]],
    client: httpx.AsyncClient,
    *,
    duration: float,
    concurrency: int,
    faults: bool,
    run: Run,
) -> None:
    start = time.monotonic()
    end = start + duration

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < end:
            user = rng.randrange(len(cookies))
            server = rng.choice(servers)
            op = "mutation" if rng.random() < 0.6 else "query"
            body = MUTATION.format(amount=rng.randint(1, 5)) if op == "mutation" else QUERY
            tracked = rng.random() < 0.5
            path = "/graphql/" if tracked else "/graphql-plain/"
            sent, t0 = time.time(), time.perf_counter()
            try:
                r = await client.post(
                    f"{server.url}{path}",
                    content=body,
                    headers={"content-type": "application/json", "cookie": cookies[user]},
                )
                verdict = classify(r, expected[server.name, body])
            except httpx.HTTPError:
                verdict = "transport"
            run.samples.append(
                Sample(sent, time.perf_counter() - t0, server.name, op, tracked, user, verdict)
            )

    async def inject() -> None:
        await asyncio.sleep(duration * 0.25)
        log(f"fault: Redis shut down for {REDIS_OUTAGE:.0f} s")
        run.events["redis_down"] = time.time()
        try:
            await asyncio.to_thread(redis_stop)
            await asyncio.sleep(REDIS_OUTAGE)
        finally:
            await asyncio.to_thread(redis_start)
            run.events["redis_up"] = time.time()
            log("fault: Redis restarted")
        await asyncio.sleep(max(0.0, start + duration * 0.65 - time.monotonic()))
        run.events["pg_kill"] = time.time()
        run.killed = await asyncio.to_thread(kill_connections)
        log(f"fault: pg_terminate_backend on {run.killed} connections of {DATABASE}")

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    if faults:
        tasks.append(asyncio.create_task(inject()))
    await asyncio.gather(*tasks)


# -- the report ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def minimum_writes(times: list[float], cooldown: float) -> int:
    """Writes needed to keep a user within COOLDOWN: one per window, greedily."""
    windows, until = 0, -math.inf
    for t in sorted(times):
        if t >= until:
            windows += 1
            until = t + cooldown
    return windows


def report(
    run: Run,
    names: list[str],
    cooldown: float,
    duration: float,
    warnings: list[str],
    processes: int,
    faults: bool,
) -> tuple[dict[str, Any], list[str]]:
    samples = run.samples
    problems: list[str] = []
    verdicts: dict[str, int] = defaultdict(int)
    for s in samples:
        verdicts[f"{'tracked' if s.tracked else 'plain'} {s.verdict}"] += 1

    # Responses changed by tracking: any tracked response unlike the plain one, except the
    # app's own database errors right after the connections were killed.
    kill = run.events.get("pg_kill", math.inf)
    changed = [
        s
        for s in samples
        if s.tracked
        and s.verdict not in ("ok", "transport")
        and not (s.verdict == "app-error" and kill - 1 <= s.sent <= kill + 5)
    ]
    unexpected_plain = [
        s
        for s in samples
        if not s.tracked
        and s.verdict != "ok"
        and not (s.verdict == "app-error" and kill - 1 <= s.sent <= kill + 5)
    ]
    if changed:
        problems.append(f"{len(changed)} responses changed by tracking")
    # A dropped connection has no body to compare; tracking could only cause them by
    # crashing a worker, which would show as many more on the tracked side.
    dropped = {
        t: sum(s.tracked is t and s.verdict == "transport" for s in samples) for t in (True, False)
    }
    if dropped[True] > 2 * dropped[False] + 3:
        problems.append(f"{dropped[True]} tracked requests dropped, {dropped[False]} plain ones")

    latency: dict[str, Any] = {}
    for server in ("async", "sync"):
        for op in ("mutation", "query"):
            row = {}
            for tracked in (True, False):
                values = [
                    s.latency
                    for s in samples
                    if s.server == server and s.op == op and s.tracked is tracked
                    and s.verdict == "ok"
                ]  # fmt: skip
                key = "with" if tracked else "without"
                row[key] = {
                    "n": len(values),
                    "p50_ms": round(1000 * percentile(values, 0.50), 2),
                    "p99_ms": round(1000 * percentile(values, 0.99), 2),
                }
            row["p50_ratio"] = round(row["with"]["p50_ms"] / row["without"]["p50_ms"], 3)
            row["p99_ratio"] = round(row["with"]["p99_ms"] / row["without"]["p99_ms"], 3)
            latency[f"{server} {op}"] = row

    # What each user did with the extension: their successful tracked mutations.
    activity: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        if s.tracked and s.op == "mutation" and s.verdict == "ok":
            activity[s.user].append(s.sent)
    minimum = sum(minimum_writes(times, cooldown) for times in activity.values())
    writes = sql("SELECT count(*) FROM loadtest_write WHERE kind = 'default'")[0][0]
    stored = {
        username: ts.timestamp()
        for username, ts in sql(
            "SELECT u.username, a.last_activity_at FROM strawberry_activity_useractivity a "
            "JOIN auth_user u ON u.id = a.user_id WHERE a.kind = 'default'"
        )
    }
    lost, worst = [], 0.0
    for user, times in activity.items():
        last = max(times)
        have = stored.get(names[user])
        gap = math.inf if have is None else last - have
        worst = max(worst, gap)
        if gap > cooldown + SLACK:
            lost.append(names[user])
    if lost:
        problems.append(f"{len(lost)} users lost (stored time older than COOLDOWN): {lost[:5]}")
    if minimum and writes > 1.25 * minimum + 5:
        problems.append(f"{writes} writes for a minimum of {minimum}: the cooldown leaks")
    # Per process and cause, one line a minute (tracking.WARNING_INTERVAL), plus margin.
    causes = 4 if faults else 1
    bound = processes * causes * (1 + int(duration // 60)) if faults else 0
    if len(warnings) > bound:
        problems.append(f"{len(warnings)} warnings logged, more than the bound {bound}")

    elapsed = max(s.sent for s in samples) - min(s.sent for s in samples) if samples else 0
    figures = {
        "duration_s": round(elapsed, 1),
        "users": len(names),
        "active_users": len(activity),
        "cooldown_s": cooldown,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1) if elapsed else 0,
        "verdicts": dict(sorted(verdicts.items())),
        "changed_by_tracking": len(changed),
        "dropped_connections": {"with": dropped[True], "without": dropped[False]},
        "plain_unexpected": len(unexpected_plain),
        "latency": latency,
        "writes": writes,
        "minimum_writes": minimum,
        "writes_per_minimum": round(writes / minimum, 3) if minimum else None,
        "lost_users": len(lost),
        "worst_gap_s": round(worst, 3),
        "warnings": len(warnings),
        "warning_bound": bound,
        "connections_killed": run.killed,
        "events": {k: round(v - min(s.sent for s in samples), 1) for k, v in run.events.items()},
    }
    return figures, problems


def print_report(figures: dict[str, Any], problems: list[str]) -> None:
    f = figures
    print()
    print(
        f"requests: {f['requests']} in {f['duration_s']} s ({f['requests_per_s']}/s), "
        f"{f['users']} users ({f['active_users']} with tracked mutations)"
    )
    for verdict, n in f["verdicts"].items():
        print(f"  {verdict:<22} {n}")
    print(f"responses changed by tracking: {f['changed_by_tracking']}")
    print("latency (ok responses)             with p50 / p99 ms    without p50 / p99 ms   ratio")
    for name, row in f["latency"].items():
        w, o = row["with"], row["without"]
        print(
            f"  {name:<16} n={w['n']:>6}/{o['n']:<6} {w['p50_ms']:>8} / {w['p99_ms']:<8} "
            f"{o['p50_ms']:>8} / {o['p99_ms']:<8} {row['p50_ratio']} / {row['p99_ratio']}"
        )
    print(
        f"writes: {f['writes']} (minimum {f['minimum_writes']}: users x cooldown windows, "
        f"ratio {f['writes_per_minimum']})"
    )
    print(
        f"lost users: {f['lost_users']} (worst gap between last mutation and stored time: "
        f"{f['worst_gap_s']} s, COOLDOWN {f['cooldown_s']} s)"
    )
    print(
        f"warnings on strawberry_activity: {f['warnings']} (bound {f['warning_bound']}); "
        f"connections killed: {f['connections_killed']}; events (s): {f['events']}"
    )
    print()
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
    else:
        print("PASSED: nothing lost, no response changed by tracking")


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--users", type=int, default=400, help="distinct users (400)")
    parser.add_argument("--concurrency", type=int, default=48, help="requests in flight (48)")
    parser.add_argument("--cooldown", type=int, default=10, help="COOLDOWN in seconds (10)")
    parser.add_argument("--no-faults", action="store_true", help="load only, no fault")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it (debug)")
    args = parser.parse_args(argv)
    faults = not args.no_faults
    if faults and (shutil.which("redis-server") is None or shutil.which("redis-cli") is None):
        parser.error("the fault run needs redis-server and redis-cli")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loadtest.settings",
        "LOADTEST_DATABASE_URL": f"{PG}/{DATABASE}",
        "LOADTEST_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}",
        "LOADTEST_COOLDOWN": str(args.cooldown),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update({k: env[k] for k in env if k.startswith(("LOADTEST_", "DJANGO_"))})
    logs = Path(tempfile.mkdtemp(prefix="loadtest-"))
    servers: list[Server] = []
    run = Run()
    try:
        redis_start()
        subprocess.run(
            ["redis-cli", "-p", str(REDIS_PORT), "-n", str(REDIS_DB), "flushdb"],
            capture_output=True,
            check=True,
        )
        log(f"creating {DATABASE} with {args.users} users")
        create_database()
        names = prepare_app(args.users)
        log("starting uvicorn (AsyncGraphQLView) and gunicorn (GraphQLView), 2 workers each")
        servers = start_servers(env, logs)

        async def drive() -> None:
            limits = httpx.Limits(max_connections=args.concurrency + 8)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                log("logging users in")
                cookies = await login_all(client, servers[1], names, args.concurrency)
                expected = await expected_responses(client, servers, cookies[0])
                log(f"waiting out the logins' cooldown ({args.cooldown} s)")
                await asyncio.sleep(args.cooldown + 1)
                await asyncio.to_thread(sql, "TRUNCATE loadtest_write")
                log(f"load: {args.duration:.0f} s, {args.concurrency} requests in flight")
                await load(
                    servers,
                    cookies,
                    expected,
                    client,
                    duration=args.duration,
                    concurrency=args.concurrency,
                    faults=faults,
                    run=run,
                )

        asyncio.run(drive())
        time.sleep(0.5)
        stop_servers(servers)
        warnings = [
            line
            for server in servers
            for line in server.log.read_text(errors="replace").splitlines()
            if " strawberry_activity WARNING " in line
        ]
        figures, problems = report(
            run,
            names,
            float(args.cooldown),
            args.duration,
            warnings,
            processes=4,
            faults=faults,
        )
        print_report(figures, problems)
        print(f"server logs: {logs}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 1 if problems else 0
    finally:
        stop_servers(servers)
        redis_start()  # whatever happened, Redis is up again
        from django.db import connections

        if "django" in sys.modules and hasattr(connections, "close_all"):
            connections.close_all()
        if not args.keep_database:
            drop_database()


if __name__ == "__main__":
    sys.exit(main())
