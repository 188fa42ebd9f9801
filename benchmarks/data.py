"""The benchmark database: created, filled with ``generate_series`` in SQL, dropped.

Every row is made by PostgreSQL itself (no ORM save per row), so 10,000,000 source rows take
minutes, not hours. ``random()`` is seeded, so two runs of one size hold the same data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

NOW_SQL = "TIMESTAMPTZ '2026-06-30 12:00:00+00'"  # a fixed "now": same data every run


@dataclass(frozen=True)
class Sizes:
    users: int
    sources: int  # rows over the three source tables
    ledger_days: int  # days of ledger history, for every user
    repeats: int  # of each interleaved measurement of the metrics query
    heavy: int  # of the series and backfill measurements, which take seconds to minutes

    @property
    def label(self) -> str:
        return f"{self.users:,} users / {self.sources:,} source rows"


QUICK = Sizes(users=20_000, sources=200_000, ledger_days=60, repeats=15, heavy=1)
FULL = Sizes(users=1_000_000, sources=10_000_000, ledger_days=60, repeats=15, heavy=2)

# Share of source rows per table: transfers, messages, trades.
SPLIT = {"testapp_transfer": 0.5, "testapp_message": 0.3, "benchmarks_trade": 0.2}
USER_COLUMN = {
    "testapp_transfer": "sender_id",
    "testapp_message": "author_id",
    "benchmarks_trade": "trader_id",
}


def _admin_conninfo() -> tuple[str, str]:
    db = settings.DATABASES["default"]
    info = psycopg.conninfo.make_conninfo(
        host=db.get("HOST") or "",
        port=str(db.get("PORT") or ""),
        user=db.get("USER") or "",
        password=db.get("PASSWORD") or "",
        dbname="postgres",
    )
    name = str(db["NAME"])
    if name == "test" or name.startswith("test_"):
        raise SystemExit(f"refusing to use {name!r}: test databases belong to test runs")
    return info, name


def create_database() -> None:
    connection.close()
    info, name = _admin_conninfo()
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def drop_database() -> None:
    connection.close()
    info, name = _admin_conninfo()
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_sizes() -> Sizes | None:
    """The sizes the existing benchmark database was filled with (``--keep``), or None."""
    info, name = _admin_conninfo()
    with psycopg.connect(info, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_sizes')")
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute("SELECT users, sources, ledger_days FROM bench_sizes")
        row = cursor.fetchone()
    return None if row is None else Sizes(*row, repeats=0, heavy=0)


def _run(cursor: object, sql: str, what: str, log: bool) -> None:
    started = time.perf_counter()
    cursor.execute(sql)  # type: ignore[attr-defined]
    if log:
        print(f"  generated {what} in {time.perf_counter() - started:.1f}s", flush=True)


def generate(sizes: Sizes, *, log: bool = True) -> None:
    """Users, source rows (a year of history), current activity and a ledger."""
    u = sizes.users
    with connection.cursor() as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '256MB'")
        # The data is consistent by construction: skip the per-row foreign key triggers.
        c.execute("SET session_replication_role = replica")
        c.execute("SELECT setseed(0.42)")
        _run(
            c,
            f"""
            INSERT INTO testapp_user (id, password, is_superuser, username, first_name,
                last_name, email, is_staff, is_active, date_joined)
            SELECT i, '', false, 'user' || i, '', '', '', false, true,
                   {NOW_SQL} - interval '2 years'
            FROM generate_series(1, {u}) i""",
            f"{u:,} users",
            log,
        )
        c.execute(f"SELECT setval(pg_get_serial_sequence('testapp_user', 'id'), {u})")
        # Source rows: a year of history; user ids skewed (random()^2) so that some users
        # act a lot and some never, as in real apps.
        for table, share in SPLIT.items():
            n = int(sizes.sources * share)
            extra = ", amount" if table == "testapp_transfer" else ""
            extra_value = ", 1" if extra else ""
            _run(
                c,
                f"""
                INSERT INTO {table} ({USER_COLUMN[table]}, created_at{extra})
                SELECT 1 + floor({u} * random() ^ 2)::bigint,
                       {NOW_SQL} - interval '365 days' * random(){extra_value}
                FROM generate_series(1, {n})""",
                f"{n:,} rows of {table}",
                log,
            )
            # The old method's best case: an index it can range-scan by time.
            c.execute(f"CREATE INDEX ON {table} (created_at, {USER_COLUMN[table]})")
        # Current activity of 90% of users: ~9% active in the last day, ~50% in 30 days.
        _run(
            c,
            f"""
            INSERT INTO strawberry_activity_useractivity (user_id, kind, last_activity_at)
            SELECT i, 'default', {NOW_SQL} - interval '120 days' * random() ^ 2
            FROM generate_series(1, {u}) i WHERE i % 10 <> 0""",
            "current activity",
            log,
        )
        # The ledger (kind "series": the backfill benchmark rewrites the default kind's): each
        # user has a rate, skewed, 0.1 active days per day on average.
        _run(
            c,
            f"""
            INSERT INTO strawberry_activity_activityday (user_id, kind, day)
            SELECT s.i, 'series', DATE '2026-06-30' - d
            FROM (SELECT i, 0.4 * random() ^ 3 AS rate FROM generate_series(1, {u}) i) s
            CROSS JOIN generate_series(0, {sizes.ledger_days - 1}) d
            WHERE random() < s.rate""",
            f"ledger ({sizes.ledger_days} days)",
            log,
        )
        c.execute("CREATE TABLE bench_sizes (users int, sources int, ledger_days int)")
        c.execute(
            "INSERT INTO bench_sizes VALUES (%s, %s, %s)",
            (sizes.users, sizes.sources, sizes.ledger_days),
        )
    # Index-only scans need the visibility map; the planner needs statistics.
    connection.close()
    started = time.perf_counter()
    with connection.cursor() as c:
        c.execute("VACUUM ANALYZE")
    if log:
        print(f"  vacuum analyze in {time.perf_counter() - started:.1f}s", flush=True)
