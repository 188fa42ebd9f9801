"""Growth analytics (SPEC §10) on PostgreSQL: retention, lifecycle and power users.

Each is measured against (a) the naive way, a loop of one query per cohort, period or
bucket, and (b) the best single statement found by hand for the same numbers (the floor).
The ledger is its own kind, ``analytics``: 120 days ending 2026-06-30 for ``sizes.users``
users, generated in SQL (``generate``) with sign-ups that grow over the period, a skewed
engagement rate per user, and users who drift away after a random lifetime, so cohorts
decay as real ones do. All variants are checked equal before anything is timed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.db import connection

from benchmarks.data import Sizes
from benchmarks.harness import Result, ms, samples
from strawberry_activity import get_lifecycle, get_power_users, get_retention

KIND = "analytics"
LEDGER_DAYS = 120
END = date(2026, 6, 30)  # data.NOW_SQL's day: the ledger's last day
WEEKS = 16
START = END - timedelta(days=END.weekday()) - timedelta(weeks=WEEKS - 1)  # a Monday
POWER_DAYS = 28
TABLE = "strawberry_activity_activityday"
# Weeks since Monday 1969-12-29, as in strawberry_activity.periods.
WEEK = "(((day - DATE '1970-01-01') + 3) / 7)"
WEEK_OF_START = ((START - date(1970, 1, 1)).days + 3) // 7


def _rows(sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def generate(sizes: Sizes) -> str:
    """The ``analytics`` ledger, unless a kept database has it; returns what was done."""
    if _rows(f"SELECT 1 FROM {TABLE} WHERE kind = %s LIMIT 1", (KIND,)):
        return "kept from an earlier run"
    started = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET session_replication_role = replica")  # users exist: skip FK checks
        c.execute("SELECT setseed(0.12)")
        # Per user: the day they joined (30% before the ledger starts, the others more and
        # more often towards its end), their rate of active days (skewed: a few daily
        # users, many occasional ones) and how long they stay (exponential, 40 days on
        # average) before their rate drops to a tenth.
        c.execute(
            f"""
            WITH u AS MATERIALIZED (
                SELECT i,
                       CASE WHEN random() < 0.3 THEN -1
                            ELSE floor({LEDGER_DAYS} * sqrt(random()))::int END AS j,
                       0.5 * random() ^ 2 AS rate,
                       -ln(1 - random()) * 40 AS life
                FROM generate_series(1, {sizes.users}) i
            )
            INSERT INTO {TABLE} (user_id, kind, day)
            SELECT u.i, %s, DATE %s - {LEDGER_DAYS - 1} + d
            FROM u CROSS JOIN LATERAL generate_series(greatest(u.j, 0), {LEDGER_DAYS - 1}) d
            WHERE d = u.j OR random() < CASE WHEN d - greatest(u.j, 0) < u.life
                                            THEN u.rate ELSE u.rate / 10 END
            """,
            (KIND, END.isoformat()),
        )
        rows = c.rowcount
        c.execute(f"VACUUM ANALYZE {TABLE}")
    return f"generated {rows:,} rows in {time.perf_counter() - started:.1f}s"


# -- the floors: the best single statements found by hand ----------------------------------

FLOOR_RETENTION = f"""
WITH u AS (
    SELECT MIN(day) AS first_day,
           bit_or(1::bigint << ({WEEK} - {WEEK_OF_START})) FILTER (WHERE day >= %(lo)s) AS m
    FROM {TABLE} WHERE kind = %(kind)s AND day <= %(hi)s GROUP BY user_id
), s AS (
    SELECT ((first_day - DATE '1970-01-01') + 3) / 7 - {WEEK_OF_START} AS c, m, COUNT(*) AS n
    FROM u WHERE first_day >= %(lo)s GROUP BY 1, 2
)
SELECT c, k, SUM(n) FROM s CROSS JOIN generate_series(0, {WEEKS - 1}) k
WHERE k >= c AND (m >> k) & 1 = 1 GROUP BY c, k
"""

# Bit 0 is the week before the range: returning and dormant look back at it.
FLOOR_LIFECYCLE = f"""
WITH s AS (
    SELECT earlier, m, COUNT(*) AS n FROM (
        SELECT MIN(day) < %(lo)s AS earlier,
               bit_or(1::bigint << ({WEEK} - {WEEK_OF_START - 1})) FILTER (WHERE day >= %(lo)s)
                   AS m
        FROM {TABLE} WHERE kind = %(kind)s AND day <= %(hi)s GROUP BY user_id
    ) u WHERE m IS NOT NULL GROUP BY earlier, m
)
SELECT k,
       SUM(n) FILTER (WHERE (m >> (k - 1)) & 3 = 2 AND NOT earlier
                            AND m & ((1::bigint << (k - 1)) - 1) = 0),
       SUM(n) FILTER (WHERE (m >> (k - 1)) & 3 = 3),
       SUM(n) FILTER (WHERE (m >> (k - 1)) & 3 = 2
                            AND (earlier OR m & ((1::bigint << (k - 1)) - 1) <> 0)),
       SUM(n) FILTER (WHERE (m >> (k - 1)) & 3 = 1)
FROM s CROSS JOIN generate_series(1, {WEEKS}) k GROUP BY k ORDER BY k
"""

FLOOR_POWER = f"""
SELECT n, COUNT(*) FROM (
    SELECT COUNT(*) AS n FROM {TABLE}
    WHERE kind = %(kind)s AND day BETWEEN %(first)s AND %(hi)s GROUP BY user_id
) x GROUP BY n
"""

# -- the naive loops -------------------------------------------------------------------------

NAIVE_COHORT = f"""
SELECT {WEEK} AS week, COUNT(DISTINCT user_id) FROM {TABLE}
WHERE kind = %(kind)s AND day BETWEEN %(cohort)s AND %(hi)s AND user_id IN (
    SELECT user_id FROM {TABLE} WHERE kind = %(kind)s
    GROUP BY user_id HAVING MIN(day) BETWEEN %(cohort)s AND %(cohort_end)s
) GROUP BY 1
"""

NAIVE_PERIOD = f"""
WITH now AS (SELECT DISTINCT user_id FROM {TABLE}
             WHERE kind = %(kind)s AND day BETWEEN %(p)s AND %(p_end)s),
     before AS (SELECT DISTINCT user_id FROM {TABLE}
                WHERE kind = %(kind)s AND day BETWEEN %(b)s AND %(b_end)s)
SELECT
    (SELECT COUNT(*) FROM now WHERE NOT EXISTS (SELECT 1 FROM {TABLE} e
        WHERE e.user_id = now.user_id AND e.kind = %(kind)s AND e.day < %(p)s)),
    (SELECT COUNT(*) FROM now JOIN before USING (user_id)),
    (SELECT COUNT(*) FROM now WHERE user_id NOT IN (SELECT user_id FROM before)
        AND EXISTS (SELECT 1 FROM {TABLE} e
                    WHERE e.user_id = now.user_id AND e.kind = %(kind)s AND e.day < %(b)s)),
    (SELECT COUNT(*) FROM before WHERE user_id NOT IN (SELECT user_id FROM now))
"""

NAIVE_BUCKET = f"""
SELECT COUNT(*) FROM (
    SELECT user_id FROM {TABLE} WHERE kind = %(kind)s AND day BETWEEN %(first)s AND %(hi)s
    GROUP BY user_id HAVING COUNT(*) = %(n)s
) x
"""


def _weeks() -> list[date]:
    return [START + timedelta(weeks=i) for i in range(WEEKS)]


HI = END + timedelta(days=6 - END.weekday())  # the Sunday ending the last week


def retention_variants() -> dict[str, Callable[[], list[tuple[date, int, tuple[int, ...]]]]]:
    weeks = _weeks()

    def ours() -> list[tuple[date, int, tuple[int, ...]]]:
        return [(c.start, c.size, c.retained) for c in get_retention(START, END, kind=KIND)]

    def floor() -> list[tuple[date, int, tuple[int, ...]]]:
        found = {
            (c, k): n for c, k, n in _rows(FLOOR_RETENTION, {"kind": KIND, "lo": START, "hi": HI})
        }
        return _triangle(lambda c, k: found.get((c, k), 0))

    def loop() -> list[tuple[date, int, tuple[int, ...]]]:
        found = {}
        for c, cohort in enumerate(weeks):
            params = {
                "kind": KIND,
                "cohort": cohort,
                "cohort_end": cohort + timedelta(days=6),
                "hi": HI,
            }
            for week, n in _rows(NAIVE_COHORT, params):
                found[(c, week - WEEK_OF_START)] = n
        return _triangle(lambda c, k: found.get((c, k), 0))

    return {"ours": ours, "floor": floor, "loop": loop}


def _triangle(count: Callable[[int, int], int]) -> list[tuple[date, int, tuple[int, ...]]]:
    weeks = _weeks()
    rows = []
    for c, cohort in enumerate(weeks):
        retained = tuple(int(count(c, k)) for k in range(c, WEEKS))
        rows.append((cohort, retained[0], retained))
    return rows


def lifecycle_variants() -> dict[str, Callable[[], list[tuple[int, ...]]]]:
    def ours() -> list[tuple[int, ...]]:
        return [
            (p.new, p.returning, p.resurrecting, p.dormant)
            for p in get_lifecycle(START, END, kind=KIND)
        ]

    def floor() -> list[tuple[int, ...]]:
        lo = START - timedelta(weeks=1)
        found = _rows(FLOOR_LIFECYCLE, {"kind": KIND, "lo": lo, "hi": HI})
        return [tuple(int(v or 0) for v in row[1:]) for row in found]

    def loop() -> list[tuple[int, ...]]:
        points = []
        for week in _weeks():
            before = week - timedelta(weeks=1)
            params = {
                "kind": KIND,
                "p": week,
                "p_end": week + timedelta(days=6),
                "b": before,
                "b_end": before + timedelta(days=6),
            }
            (row,) = _rows(NAIVE_PERIOD, params)
            points.append(tuple(int(v) for v in row))
        return points

    return {"ours": ours, "floor": floor, "loop": loop}


def power_variants() -> dict[str, Callable[[], dict[int, int]]]:
    first = END - timedelta(days=POWER_DAYS - 1)
    params = {"kind": KIND, "first": first, "hi": END}

    def ours() -> dict[int, int]:
        return get_power_users(days=POWER_DAYS, end=END, kind=KIND)

    def floor() -> dict[int, int]:
        found = dict(_rows(FLOOR_POWER, params))
        return {n: int(found.get(n, 0)) for n in range(1, POWER_DAYS + 1)}

    def loop() -> dict[int, int]:
        return {
            n: int(_rows(NAIVE_BUCKET, {**params, "n": n})[0][0]) for n in range(1, POWER_DAYS + 1)
        }

    return {"ours": ours, "floor": floor, "loop": loop}


def analytics(sizes: Sizes) -> list[Result]:
    done = generate(sizes)
    (rows, users), *_ = _rows(
        f"SELECT COUNT(*), COUNT(DISTINCT user_id) FROM {TABLE} WHERE kind = %s", (KIND,)
    )
    ledger = (
        f"ledger of {sizes.users:,} users x {LEDGER_DAYS} days ({rows:,} rows, "
        f"{users:,} users active at least once; {done})"
    )
    results = []
    cases: list[tuple[str, dict[str, Callable[[], Any]], str]] = [
        ("retention", retention_variants(), f"weekly, {WEEKS} cohorts from {START}"),
        ("lifecycle", lifecycle_variants(), f"weekly, {WEEKS} periods from {START}"),
        ("power_users", power_variants(), f"{POWER_DAYS} days ending {END}"),
    ]
    for name, variants, what in cases:
        answers = {variant: fn() for variant, fn in variants.items()}
        assert answers["ours"] == answers["floor"] == answers["loop"], (name, answers)
        # Ours and the floor take a second or two: many interleaved samples. The loop takes
        # up to a minute: a few, interleaved with ours again.
        close = samples(
            {"ours": variants["ours"], "floor": variants["floor"]}, repeats=sizes.repeats // 2
        )
        far = samples({"ours": variants["ours"], "loop": variants["loop"]}, repeats=sizes.heavy)
        vs_floor = statistics.median(close["ours"]) / statistics.median(close["floor"])
        vs_loop = statistics.median(far["ours"]) / statistics.median(far["loop"])
        results.append(
            Result(
                f"{name}_vs_loop",
                vs_loop,
                0.2,
                f"{what}; {ledger}",
                [f"median of {len(far['ours'])}: {_timings(far)}"],
            )
        )
        results.append(
            Result(
                f"{name}_vs_floor",
                vs_floor,
                1.2,
                what,
                [f"median of {len(close['ours'])}: {_timings(close)}"],
            )
        )
    return results


def _timings(times: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {ms(statistics.median(v))}" for name, v in times.items())
