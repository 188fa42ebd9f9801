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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from loadtest.load import (
    Run,
    expected_responses,
    load,
    login_all,
)
from loadtest.report import (
    print_report,
    report,
)
from loadtest.servers import (
    Server,
    start_servers,
    stop_servers,
)
from loadtest.services import (
    DATABASE,
    PG,
    REDIS_DB,
    REDIS_PORT,
    ROOT,
    create_database,
    drop_database,
    log,
    prepare_app,
    redis_start,
    sql,
)

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
