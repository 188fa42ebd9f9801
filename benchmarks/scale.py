"""``python -m benchmarks --only scale``: history at 10 million users, with and without rollups.

Not in the default run and not in CI: at full size its database takes ~40 GB and most of an
hour to generate. It lives in its own PostgreSQL database (``SCALE_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/bench_scale``), generated in SQL and kept between runs:
a run reuses it when it holds the sizes asked for (``--rebuild`` or ``SCALE_REBUILD=1``
generates it again).

Sizes (environment): ``SCALE_USERS`` (10,000,000), ``SCALE_DAILY`` (2,000,000 ledger rows a
day, i.e. the DAU), ``SCALE_DAYS`` (120 days of ledger up to yesterday; today has half a
day). A development run: ``SCALE_USERS=200000 SCALE_DAILY=40000``. ``SCALE_ONLY="power|(open)"``
measures only the calls whose name contains one of those parts; ``SCALE_SLOW`` (10 seconds)
is the time above which a variant runs once instead of five times.

The users: a pool of ``SCALE_DAILY / 0.246`` of them is active at some point of the ledger
(60% from before it starts, the others joining more and more often towards its end), each
with a skewed rate of active days (``0.05 + 0.9 * random()``, 20% less at weekends) and an
exponential lifetime (120 days on average) after which the rate drops to a thirtieth; the
rest never act. At full size: DAU ~2.0M, MAU ~6.0M, ~8.1M users in the ledger. Every day is
drawn with its own seed: the same sizes give the same ledger, run after run.

Each call goes through the public API, with ``METRICS_CACHE_SECONDS=0`` and a fixed "now"
(``NOW``): without rollups (``ROLLUPS=False``), cold (``ROLLUPS=True``, the rollups table
emptied first) and warm (the same call again). All three answers are checked equal.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from benchmarks.harness import Result

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)  # a fixed "now" (a Tuesday, noon): same data every run
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)
LEDGER = "strawberry_activity_activityday"
ACTIVITY = "strawberry_activity_useractivity"
USERS = "testapp_user"
DAU_SHARE = 0.246  # the pool's mean share active per day (the model below, simulated)
GENERATOR = 1  # bump when the generated data changes: a kept database is then rebuilt
SLOW = float(os.environ.get("SCALE_SLOW", 10.0))  # seconds: slower calls run once per variant
REPEATS = 5  # of the faster calls
BUDGET = 0.200  # seconds: a warm call's target
SPEEDUP = 20.0  # warm vs without rollups: the target


@dataclass(frozen=True)
class ScaleSizes:
    users: int
    daily: int
    days: int

    @property
    def pool(self) -> int:
        return min(self.users, round(self.daily / DAU_SHARE))

    @property
    def first_day(self) -> date:
        return YESTERDAY - timedelta(days=self.days - 1)

    @property
    def label(self) -> str:
        return f"{self.users:,} users, ~{self.daily:,} ledger rows a day x {self.days} days"


def sizes_from_env() -> ScaleSizes:
    return ScaleSizes(
        users=int(os.environ.get("SCALE_USERS", 10_000_000)),
        daily=int(os.environ.get("SCALE_DAILY", 2_000_000)),
        days=int(os.environ.get("SCALE_DAYS", 120)),
    )


def _log(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)


def _rows(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# -- the database ---------------------------------------------------------------------------


def kept_sizes() -> tuple[ScaleSizes, float] | None:
    """The sizes a kept database was generated with and how long that took, or None."""
    import psycopg

    from benchmarks.data import _admin_conninfo

    info, name = _admin_conninfo()
    with psycopg.connect(info, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            return None
    if _rows("SELECT to_regclass('scale_sizes')")[0][0] is None:
        return None
    found = _rows("SELECT users, daily, days, generator, seconds FROM scale_sizes")
    if not found or found[0][3] != GENERATOR:
        return None
    users, daily, days, _, seconds = found[0]
    return ScaleSizes(users, daily, days), seconds


@contextmanager
def without_indexes(cursor: Any, table: str) -> Iterator[None]:
    """Drop ``table``'s indexes (and the constraints they back) for a bulk load, then build
    them again from their definitions, one by one, with progress."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        (table,),
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        (table,),
    )
    indexes = cursor.fetchall()
    # A foreign key pointing at a primary key depends on its index: drop and restore it too.
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = %s::regclass AND contype = 'f'",
        (table,),
    )
    referencing = cursor.fetchall()
    for other, name, _ in referencing:
        cursor.execute(f'ALTER TABLE {other} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    for name, definition in constraints:
        started = time.perf_counter()
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        _log(f"{table}: {name} built in {time.perf_counter() - started:.0f}s")
    for name, definition in indexes:
        started = time.perf_counter()
        cursor.execute(definition)
        _log(f"{table}: {name} built in {time.perf_counter() - started:.0f}s")
    for other, name, definition in referencing:
        # NOT VALID: the rows are consistent by construction; checking them is a full scan.
        cursor.execute(f'ALTER TABLE {other} ADD CONSTRAINT "{name}" {definition} NOT VALID')


def generate(sizes: ScaleSizes) -> float:
    """Create the database, migrate it and fill it; returns the seconds it took."""
    from benchmarks.data import create_database

    started = time.perf_counter()
    create_database()  # drops and creates it, then ``migrate``
    _log(f"created and migrated {connection.settings_dict['NAME']}")
    u, pool, n = sizes.users, sizes.pool, sizes.days
    with connection.cursor() as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '2GB'")
        c.execute("SET work_mem = '512MB'")
        c.execute("SET max_parallel_workers_per_gather = 0")  # one plan: the same rows
        c.execute("SET session_replication_role = replica")  # consistent by construction
        step = time.perf_counter()
        with without_indexes(c, USERS):
            c.execute(
                f"""
                INSERT INTO {USERS} (id, password, is_superuser, username, first_name,
                    last_name, email, is_staff, is_active, date_joined)
                SELECT i, '', false, 'user' || i, '', '', '', false, true,
                       %s - interval '5 seconds' * (u - i)
                FROM generate_series(1, {u}) i, (SELECT {u} AS u) k""",
                (NOW,),
            )
            c.execute(f"SELECT setval(pg_get_serial_sequence('{USERS}', 'id'), {u})")
            _log(f"{u:,} users inserted in {time.perf_counter() - step:.0f}s")
        _log(f"users with their indexes in {time.perf_counter() - step:.0f}s")

        # The pool: who is ever active in the ledger, when they join (day index, -1: before
        # the ledger), their rate of active days and their lifetime.
        step = time.perf_counter()
        c.execute("SELECT setseed(0.2026)")
        c.execute(
            f"""
            CREATE UNLOGGED TABLE scale_pool AS
            SELECT i,
                   CASE WHEN random() < 0.6 THEN -1
                        ELSE floor({n} * random() ^ 0.7)::int END AS j,
                   0.05 + 0.9 * random() AS rate,
                   -ln(1 - random()) * 120 AS life
            FROM generate_series(1, {pool}) i"""
        )
        _log(f"pool of {pool:,} users in {time.perf_counter() - step:.0f}s")

        step = time.perf_counter()
        total = 0
        with without_indexes(c, LEDGER):
            # Day by day, as a real ledger grows (the table is in day order); each day its
            # own seed. Today (day n) is half over: half the rate.
            for d in range(n + 1):
                day = sizes.first_day + timedelta(days=d)
                factor = (0.8 if day.weekday() >= 5 else 1.0) * (0.5 if d == n else 1.0)
                c.execute("SELECT setseed(%s)", (((d + 1) * 0.618034) % 1.0,))
                c.execute(
                    f"""
                    INSERT INTO {LEDGER} (user_id, kind, day)
                    SELECT i, 'default', %(day)s FROM scale_pool
                    WHERE j <= %(d)s AND (j = %(d)s OR random() < %(factor)s *
                          CASE WHEN %(d)s - greatest(j, 0) < life THEN rate ELSE rate / 30 END)
                    """,
                    {"day": day, "d": d, "factor": factor},
                )
                total += c.rowcount
                if d % 10 == 0 or d == n:
                    elapsed = time.perf_counter() - step
                    _log(
                        f"ledger: day {d + 1}/{n + 1} ({day}) {c.rowcount:,} rows; "
                        f"{total:,} in {elapsed:.0f}s, "
                        f"ETA {elapsed / (d + 1) * (n - d):.0f}s before the indexes"
                    )
        _log(f"ledger: {total:,} rows with their indexes in {time.perf_counter() - step:.0f}s")
        c.execute("DROP TABLE scale_pool")

        # Stored activity: every user of the ledger at their last day (a time of day from
        # their id; before noon today), half of the others long ago (they never came back).
        step = time.perf_counter()
        c.execute("SET max_parallel_workers_per_gather = 2")  # the same result either way
        with without_indexes(c, ACTIVITY):
            c.execute(
                f"""
                INSERT INTO {ACTIVITY} (user_id, kind, last_activity_at)
                SELECT user_id, 'default',
                       (last::timestamp AT TIME ZONE 'UTC') + interval '1 second' *
                       (user_id::bigint * 7919 %%
                        CASE WHEN last = %(today)s THEN 43200 ELSE 86400 END)
                FROM (SELECT user_id, MAX(day) AS last FROM {LEDGER} GROUP BY user_id) l
                UNION ALL
                SELECT i, 'default', %(now)s - interval '121 days'
                                     - interval '1 hour' * (i::bigint * 7919 %% 14400)
                FROM generate_series({pool + 1}, {u}) i WHERE i %% 2 = 0
                """,
                {"today": TODAY, "now": NOW},
            )
            _log(f"{c.rowcount:,} stored activities in {time.perf_counter() - step:.0f}s")
        _log(f"stored activity with its indexes in {time.perf_counter() - step:.0f}s")
        c.execute("RESET session_replication_role")
    # Index-only scans need the visibility map; the planner needs statistics.
    connection.close()
    step = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET maintenance_work_mem = '2GB'")
        c.execute(f"VACUUM ANALYZE {USERS}, {ACTIVITY}, {LEDGER}")
    _log(f"vacuum analyze in {time.perf_counter() - step:.0f}s")
    seconds = time.perf_counter() - started
    with connection.cursor() as c:
        c.execute(
            "CREATE TABLE scale_sizes (users int, daily int, days int, generator int, "
            "seconds float)"
        )
        c.execute(
            "INSERT INTO scale_sizes VALUES (%s, %s, %s, %s, %s)",
            (sizes.users, sizes.daily, sizes.days, GENERATOR, seconds),
        )
    return seconds


def disk_usage(users: int) -> list[str]:
    """Each table's size: heap, indexes, total; the database's; per million users."""
    tables = (USERS, ACTIVITY, LEDGER, "strawberry_activity_activityrollup")
    lines = []
    for table in tables:
        if _rows("SELECT to_regclass(%s)", (table,))[0][0] is None:
            continue
        heap, indexes, total, rows = _rows(
            "SELECT pg_table_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s), "
            "(SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass)",
            (table,) * 4,
        )[0]
        lines.append(
            f"{table}: ~{max(rows, 0):,} rows, table {_gb(heap)}, indexes {_gb(indexes)}, "
            f"total {_gb(total)}"
        )
    (database,) = _rows("SELECT pg_database_size(current_database())")[0]
    lines.append(f"database: {_gb(database)}, {_gb(database / (users / 1e6))} per million users")
    return lines


def _gb(size: float) -> str:
    return f"{size / 1e9:.2f} GB"


# -- the calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    fn: Callable[[], Any]
    judged: bool  # the warm targets apply (history of days that are over)


def calls(sizes: ScaleSizes) -> list[Call]:
    from strawberry_activity import (
        get_activity_metrics,
        get_activity_series,
        get_lifecycle,
        get_power_users,
        get_retention,
    )

    def series(judged: bool) -> list[Call]:
        last = YESTERDAY if judged else TODAY
        return [
            Call(
                f"{metric} series, 90 days to {'yesterday' if judged else 'today'}",
                lambda m=metric: get_activity_series(m, last - timedelta(days=89), last),
                judged,
            )
            for metric in ("dau", "wau", "mau")
        ]

    # History of days that are over first (the targets), today's series last (INFO).
    found: list[Call] = series(judged=True)
    # The 12 weeks that are over (Monday to the last Sunday), the months that are over
    # since the ledger's first.
    sunday = TODAY - timedelta(days=TODAY.weekday() + 1)
    monday = sunday - timedelta(days=12 * 7 - 1)
    month_end = TODAY.replace(day=1) - timedelta(days=1)
    month_start = sizes.first_day.replace(day=1)
    if month_start > month_end:
        month_start = month_end.replace(day=1)
    for name, fn in (("get_retention", get_retention), ("get_lifecycle", get_lifecycle)):
        found.append(
            Call(
                f"{name}, 12 weeks {monday}..{sunday}",
                lambda f=fn: f(monday, sunday, period="week"),
                True,
            )
        )
        found.append(
            Call(
                f"{name}, months {month_start:%Y-%m}..{month_end:%Y-%m}",
                lambda f=fn: f(month_start, month_end, period="month"),
                True,
            )
        )
    found.append(
        Call(
            f"get_power_users(days=28, end={YESTERDAY})",
            lambda: get_power_users(days=28, end=YESTERDAY),
            True,
        )
    )
    found.append(Call("get_activity_metrics()", get_activity_metrics, False))
    # Ranges whose last period is still running (INFO): that period is counted from the
    # ledger on every call, with each user's first period for retention and lifecycle.
    this_monday = TODAY - timedelta(days=TODAY.weekday())
    found += [
        Call(
            f"get_retention, 12 weeks {this_monday - timedelta(weeks=11)}..{TODAY} (open)",
            lambda: get_retention(this_monday - timedelta(weeks=11), TODAY, period="week"),
            False,
        ),
        Call(
            f"get_lifecycle, 12 weeks {this_monday - timedelta(weeks=11)}..{TODAY} (open)",
            lambda: get_lifecycle(this_monday - timedelta(weeks=11), TODAY, period="week"),
            False,
        ),
        Call("get_power_users(days=28), ending today (open)", get_power_users, False),
    ]
    found += series(judged=False)
    # SCALE_ONLY="a|b": only the calls whose name contains one of these (a partial run).
    only = [part for part in os.environ.get("SCALE_ONLY", "").split("|") if part]
    return [call for call in found if not only or any(part in call.name for part in only)]


def _settings(rollups: bool) -> override_settings:
    return override_settings(
        STRAWBERRY_ACTIVITY={
            **settings.STRAWBERRY_ACTIVITY,
            "ROLLUPS": rollups,
            "METRICS_CACHE_SECONDS": 0,
        }
    )


def clear_rollups() -> None:
    from strawberry_activity.models import ActivityRollup

    ActivityRollup.objects.all().delete()


def rollup_count() -> int:
    from strawberry_activity.models import ActivityRollup

    return ActivityRollup.objects.count()


def timed(fn: Callable[[], Any], rollups: bool) -> tuple[float, Any]:
    with _settings(rollups):
        started = time.perf_counter()
        answer = fn()
        return time.perf_counter() - started, answer


def measure(call: Call, with_rollups: bool) -> dict[str, list[float]]:
    """Seconds per variant. The first round runs cold, warm, then without: a cold run
    pays for reading the ledger into memory, so a single run judges the cold target on
    the conservative side. A variant under ``SLOW`` seconds gets ``REPEATS`` runs (cold
    and without in alternating order; cold whenever without is under ``SLOW``), a slower
    one none more."""
    times: dict[str, list[float]] = {"without": [], "cold": [], "warm": []}
    answers = []
    if with_rollups:
        clear_rollups()
        seconds, answer = timed(call.fn, True)
        times["cold"].append(seconds)
        answers.append(answer)
        seconds, answer = timed(call.fn, True)
        times["warm"].append(seconds)
        answers.append(answer)
    seconds, answer = timed(call.fn, False)
    times["without"].append(seconds)
    answers.append(answer)
    assert all(a == answers[0] for a in answers), (call.name, answers)
    again = {name: bool(values) and values[0] < SLOW for name, values in times.items()}
    # Cold and without do the same reading: both are repeated when without is fast enough
    # (the first cold run, which read the ledger from disk, is no measure of that).
    again["cold"] = again["cold"] or (with_rollups and again["without"])
    for r in range(1, REPEATS):
        if again["without"] and r % 2 == 1:
            times["without"].append(timed(call.fn, False)[0])
        if again["cold"]:
            clear_rollups()
            times["cold"].append(timed(call.fn, True)[0])
        if again["warm"]:  # the rollups of the last cold run are still there
            times["warm"].append(timed(call.fn, True)[0])
        if again["without"] and r % 2 == 0:
            times["without"].append(timed(call.fn, False)[0])
    return times


def rollups_in_effect() -> bool:
    """Whether ``ROLLUPS=True`` keeps anything: a week of DAU up to yesterday, then a look
    at the rollups table (False until the rollups are implemented)."""
    from strawberry_activity import get_activity_series

    clear_rollups()
    timed(lambda: get_activity_series("dau", YESTERDAY - timedelta(days=6), YESTERDAY), True)
    kept = rollup_count() > 0
    clear_rollups()
    return kept


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def scale(rebuild: bool = False) -> Iterator[Result]:
    """Generate or reuse the database, then each call's results as soon as measured; the
    table at the end."""
    sizes = sizes_from_env()
    kept = None if rebuild or os.environ.get("SCALE_REBUILD") == "1" else kept_sizes()
    if kept is not None and kept[0] == sizes:
        seconds = kept[1]
        print(f"# reusing {connection.settings_dict['NAME']}: {sizes.label}", flush=True)
    else:
        print(f"# generating {sizes.label} in {connection.settings_dict['NAME']}", flush=True)
        seconds = generate(sizes)
        print(f"# generated in {seconds:.0f}s ({seconds / 60:.1f} min)", flush=True)
    call_command("migrate", verbosity=0)  # a kept database gets new migrations
    print(f"# PostgreSQL {_rows('SHOW server_version')[0][0]}", flush=True)
    usage = disk_usage(sizes.users)
    for line in usage:
        print(f"# {line}", flush=True)
    (rows, first, last) = _rows(
        f"SELECT reltuples::bigint, (SELECT MIN(day) FROM {LEDGER}), "
        f"(SELECT MAX(day) FROM {LEDGER}) FROM pg_class WHERE oid = %s::regclass",
        (LEDGER,),
    )[0]
    ledger = f"ledger ~{rows:,} rows, {first}..{last}"
    generated = f"generated in {seconds / 60:.1f} min"

    table: list[str] = []
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        active = rollups_in_effect()
        print(
            f"# rollups: {'in effect' if active else 'NOT in effect (ROLLUPS keeps nothing yet)'}"
            f"; now = {NOW:%Y-%m-%d %H:%M} UTC, yesterday = {YESTERDAY}",
            flush=True,
        )
        for call in calls(sizes):
            times = measure(call, active)
            median = {k: statistics.median(v) for k, v in times.items() if v}
            counts = {k: len(v) for k, v in times.items() if v}
            if not active:
                table.append(f"| {call.name} | {_ms(median['without'])} | - | - | - |")
                print(f"# {table[-1]}", flush=True)
                yield (
                    Result(
                        f"scale: {call.name}",
                        median["without"],
                        None,
                        f"{sizes.label}; without rollups only",
                        [f"without rollups {_ms(median['without'])} (median of {counts})"],
                    )
                )
                continue
            speedup = median["without"] / median["warm"]
            table.append(
                f"| {call.name} | {_ms(median['without'])} | {_ms(median['cold'])} | "
                f"{_ms(median['warm'])} | {speedup:,.0f}x |"
            )
            print(f"# {table[-1]}", flush=True)
            detail = (
                f"without {_ms(median['without'])}, cold {_ms(median['cold'])}, "
                f"warm {_ms(median['warm'])} (runs: {counts})"
            )
            # Warm: within the budget and SPEEDUP times faster, the worse of the two as a
            # share of its target (<= 1.0 meets both).
            warm = max(median["warm"] / BUDGET, SPEEDUP / speedup)
            yield (
                Result(
                    f"scale_warm: {call.name}",
                    warm,
                    1.0 if call.judged else None,
                    f"{sizes.label}",
                    [
                        detail,
                        f"warm {_ms(median['warm'])} of a {_ms(BUDGET)} budget, {speedup:,.1f}x "
                        f"faster than without (target >= {SPEEDUP:g}x); ratio = the worse of "
                        f"warm / {_ms(BUDGET)} and {SPEEDUP:g} / speed-up",
                    ],
                )
            )
            yield (
                Result(
                    f"scale_cold: {call.name}",
                    median["cold"] / median["without"],
                    1.1,
                    "cold (rollups emptied first) / without rollups",
                    [detail],
                )
            )
            clear_rollups()
    print()
    print(f"Scale: {sizes.label}; {ledger}; {generated}; now = {NOW:%Y-%m-%d %H:%M} UTC")
    print()
    print("| call | without rollups | with rollups, cold | with rollups, warm | speed-up warm |")
    print("|---|---|---|---|---|")
    for line in table:
        print(line)
    print()
    for line in usage:
        print(f"- {line}")
    print(flush=True)
