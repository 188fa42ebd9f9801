"""Load test services: Redis and PostgreSQL on 127.0.0.1, and the app's database."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

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


def create_database(name: str = DATABASE) -> None:
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(name: str = DATABASE) -> None:
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


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
