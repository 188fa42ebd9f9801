"""metrics, series, backfill: the package's SQL against hand-written floors on PostgreSQL.

Every variant reads the same rows in the same process, alternately; the data is in
``data.py``. Results are checked equal before anything is timed: a fast wrong answer is
not a benchmark.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from benchmarks.data import SPLIT, USER_COLUMN, Sizes
from benchmarks.harness import Result, ms, samples
from strawberry_activity import get_activity_metrics, get_activity_series
from strawberry_activity.models import UserActivity
from tests.testapp.models import User

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)  # data.NOW_SQL
TODAY = NOW.date()
WINDOWS = {"dau": 1, "wau": 7, "mau": 30}


def _one(sql: str, params: Any = ()) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row: tuple[Any, ...] = cursor.fetchone()
    return row


def _median_ratios(times: dict[str, list[float]], ours: str = "ours") -> dict[str, float]:
    """Ours / each other variant, from the medians."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {name: medians[ours] / value for name, value in medians.items() if name != ours}


def _timings(times: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {ms(statistics.median(v))}" for name, v in times.items())


# -- metrics --------------------------------------------------------------------------------


def metrics(sizes: Sizes) -> list[Result]:
    since = {name: NOW - timedelta(days=days) for name, days in WINDOWS.items()}

    def ours() -> tuple[int, ...]:
        m = get_activity_metrics(now=NOW)
        return (m["total_users"], m["dau"], m["wau"], m["mau"])

    # The floor: the same answer by hand, one statement over the same index.
    floor_sql = (
        "SELECT (SELECT COUNT(*) FROM testapp_user), "
        "COUNT(*) FILTER (WHERE last_activity_at >= %s), "
        "COUNT(*) FILTER (WHERE last_activity_at >= %s), "
        "COUNT(*) FILTER (WHERE last_activity_at >= %s) "
        "FROM strawberry_activity_useractivity WHERE kind = 'default' AND last_activity_at >= %s"
    )

    def floor() -> tuple[int, ...]:
        return _one(floor_sql, (*since.values(), since["mau"]))

    def three_counts() -> tuple[int, ...]:
        """What a team writes first: one ``.count()`` per window, plus the users."""
        rows = UserActivity.objects.filter(kind="default")
        return (
            User.objects.count(),
            *(rows.filter(last_activity_at__gte=s).count() for s in since.values()),
        )

    # The seeds' "old method": a union over the source tables, per window.
    union = " UNION ".join(
        f"SELECT {USER_COLUMN[table]} FROM {table} WHERE created_at >= %s" for table in SPLIT
    )

    def old_union() -> tuple[int, ...]:
        return (
            _one("SELECT COUNT(*) FROM testapp_user")[0],
            *(
                _one(f"SELECT COUNT(*) FROM ({union}) u", [s] * len(SPLIT))[0]
                for s in since.values()
            ),
        )

    answer = ours()
    assert answer == floor() == three_counts(), (answer, floor(), three_counts())
    times = samples(
        {"ours": ours, "floor": floor, "three_counts": three_counts, "old_union": old_union},
        repeats=sizes.repeats,
    )
    ratio = _median_ratios(times)
    total, dau, wau, mau = answer
    return [
        Result(
            "metrics",
            ratio["floor"],
            1.2,
            f"{sizes.users:,} users, {sizes.sources:,} source rows",
            [
                f"median: {_timings(times)}",
                f"ours / three .count() calls = {ratio['three_counts']:.3f}",
                f"ours / old union over {len(SPLIT)} source tables = {ratio['old_union']:.4f} "
                f"({1 / ratio['old_union']:.0f}x faster)",
                f"answer: total {total:,}, dau {dau:,}, wau {wau:,}, mau {mau:,}",
            ],
        ),
        Result("metrics_vs_three_counts", ratio["three_counts"], None, "same data"),
        Result("metrics_vs_old_union", ratio["old_union"], None, "same data"),
    ]


# -- series ---------------------------------------------------------------------------------


def series(sizes: Sizes) -> list[Result]:
    start, end = TODAY - timedelta(days=89), TODAY
    rows = _one("SELECT COUNT(*) FROM strawberry_activity_activityday WHERE kind = 'series'")[0]
    results, details, ratios = [], [], []
    for metric, window in WINDOWS.items():

        def ours(metric: str = metric) -> list[tuple[date, int]]:
            return get_activity_series(metric, start, end, kind="series")

        def per_day_loop(window: int = window) -> list[tuple[date, int]]:
            """One ``COUNT(DISTINCT)`` per day: what a dashboard does without a series."""
            points = []
            day = start
            while day <= end:
                count = _one(
                    "SELECT COUNT(DISTINCT user_id) FROM strawberry_activity_activityday "
                    "WHERE kind = 'series' AND day BETWEEN %s AND %s",
                    (day - timedelta(days=window - 1), day),
                )[0]
                points.append((day, count))
                day += timedelta(days=1)
            return points

        assert ours() == per_day_loop(), metric
        times = samples({"ours": ours, "per_day_loop": per_day_loop}, repeats=sizes.heavy)
        ratio = _median_ratios(times)["per_day_loop"]
        ratios.append(ratio)
        details.append(f"{metric}: {_timings(times)}, ours / loop = {ratio:.3f}")
    results.append(
        Result(
            "series",
            max(ratios),
            1.0,
            f"90 days from a ledger of {sizes.users:,} users x {sizes.ledger_days} days "
            f"({rows:,} rows)",
            [*details, "ratio = the worst of the three metrics"],
        )
    )
    return results


# -- backfill -------------------------------------------------------------------------------

# What each statement of ours is for, by how it starts: the split of ours.
PHASES = (
    ("stage", "CREATE TEMPORARY TABLE"),
    ("timestamps", "UPDATE "),
    ("ledger", 'INSERT INTO "strawberry_activity_activityday"'),
    ("count", "SELECT COUNT(DISTINCT"),
)


class StatementClock:
    """A ``connection.execute_wrapper``: seconds and statements per phase of ours.

    Timing is around the driver's ``execute`` alone, a few microseconds per statement
    against statements of tens of milliseconds: it does not change what it measures.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.statements: dict[str, int] = {}

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        phase = next((name for name, start in PHASES if sql.startswith(start)), "other")
        started = time.perf_counter()
        try:
            return execute(sql, *args)
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started
            self.statements[phase] = self.statements.get(phase, 0) + 1

    def commit(self, commit: Callable[[], None]) -> Callable[[], None]:
        """``connection._commit`` timed: a batch's commit runs the deferred foreign-key
        checks of the ledger rows it inserted."""

        def timed() -> None:
            started = time.perf_counter()
            try:
                commit()
            finally:
                self.seconds["commit"] = self.seconds.get("commit", 0.0) + (
                    time.perf_counter() - started
                )
                self.statements["commit"] = self.statements.get("commit", 0) + 1

        return timed


def backfill(sizes: Sizes) -> list[Result]:
    since = NOW - timedelta(days=365)
    union_all = " UNION ALL ".join(
        f"SELECT {USER_COLUMN[t]} AS uid, created_at AS ts FROM {t} WHERE created_at >= %s"
        for t in SPLIT
    )
    params = [since] * len(SPLIT)
    floor_update = (
        "UPDATE testapp_user u SET last_activity_at = s.ts "
        f"FROM (SELECT uid, MAX(ts) AS ts FROM ({union_all}) a GROUP BY uid) s "
        "WHERE u.id = s.uid AND (u.last_activity_at IS NULL OR u.last_activity_at < s.ts)"
    )
    floor_ledger = (
        "INSERT INTO strawberry_activity_activityday (user_id, kind, day) "
        f"SELECT DISTINCT uid, 'default', (ts AT TIME ZONE 'UTC')::date FROM ({union_all}) a "
        "ON CONFLICT (user_id, kind, day) DO NOTHING"
    )

    def execute(sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def reset() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE testapp_user SET last_activity_at = NULL WHERE last_activity_at IS NOT NULL"
            )
            # Deleting millions of rows takes minutes; TRUNCATE is instant but also drops
            # the series benchmark's ledger, so a kept database must be filled again.
            cursor.execute("DROP TABLE IF EXISTS bench_sizes")
            cursor.execute("TRUNCATE strawberry_activity_activityday")
            # Each run starts from the same clean, checkpointed tables.
            cursor.execute("VACUUM ANALYZE testapp_user, strawberry_activity_activityday")
            cursor.execute("CHECKPOINT")

    clocks: list[StatementClock] = []

    def ours() -> None:
        clock = StatementClock()
        clocks.append(clock)
        with (
            mock.patch("django.utils.timezone.now", return_value=NOW),
            mock.patch.object(connection, "_commit", clock.commit(connection._commit)),
            connection.execute_wrapper(clock),
        ):
            call_command(
                "backfill_last_activity", days=365, stdout=io.StringIO(), stderr=io.StringIO()
            )

    # The floor with the ledger is its two statements in a row; each is timed too (the
    # split), which also gives the UPDATE-only floor of the first measurements.
    floor_parts: dict[str, list[float]] = {"timestamps": [], "ledger": []}

    def floor_with_ledger() -> None:
        for part, sql in (("timestamps", floor_update), ("ledger", floor_ledger)):
            started = time.perf_counter()
            execute(sql)
            floor_parts[part].append(time.perf_counter() - started)

    def state() -> tuple[int, ...]:
        return _one(
            "SELECT (SELECT COUNT(*) FROM testapp_user WHERE last_activity_at IS NOT NULL), "
            "(SELECT md5(string_agg(id || ':' || last_activity_at, ',' ORDER BY id)) "
            " FROM testapp_user WHERE last_activity_at IS NOT NULL), "
            "(SELECT COUNT(*) FROM strawberry_activity_activityday WHERE kind = 'default')"
        )

    settings = {
        "STRAWBERRY_ACTIVITY": {
            "ACTIVITY_SOURCES": _sources(),
            "USER_FIELD": "last_activity_at",
            "COOLDOWN": 300,
        }
    }
    states: dict[str, set[tuple[int, ...]]] = {}

    def check(name: str) -> None:
        states.setdefault(name, set()).add(state())

    with override_settings(**settings):
        variants: dict[str, Callable[[], None]] = {
            "ours": ours,
            "floor_with_ledger": floor_with_ledger,
        }
        # One run each: at full size a run takes minutes, resets included, and
        # the statements are long enough that the machine's noise is a few percent.
        times = samples(variants, repeats=1, reset=reset, after=check)
        reset()
    # The same users, timestamps and ledger rows, run after run.
    assert len(states["ours"]) == 1, states
    assert states["ours"] == states["floor_with_ledger"], states
    (mine,) = states["ours"]
    users, _, days = mine
    median = {name: statistics.median(values) for name, values in times.items()}
    floor_split = {part: statistics.median(v) for part, v in floor_parts.items()}
    ours_split = {
        phase: statistics.median(c.seconds.get(phase, 0.0) for c in clocks)
        for phase in ("stage", "count", "timestamps", "ledger", "commit", "other")
    }
    statements = {phase: clocks[0].statements.get(phase, 0) for phase in ours_split}
    ratio = median["ours"] / median["floor_with_ledger"]

    def split(seconds: float, total: float) -> str:
        return f"{seconds:.1f} s ({100 * seconds / total:.0f}%)"

    runs = len(times["ours"])
    return [
        Result(
            "backfill",
            ratio,
            1.0,
            f"{sizes.users:,} users / {sizes.sources:,} source rows",
            [
                f"{'median of ' + str(runs) if runs > 1 else 'one run'}: "
                f"ours {median['ours']:.1f} s, floor with ledger "
                f"{median['floor_with_ledger']:.1f} s (UPDATE + ledger INSERT by hand)",
                f"ours: the sources read once into the stage "
                f"{split(ours_split['stage'], median['ours'])}; timestamps (UPDATE) "
                f"{split(ours_split['timestamps'], median['ours'])}; ledger "
                f"{split(ours_split['ledger'], median['ours'])}; commits (the ledger rows' "
                f"deferred foreign-key checks) {split(ours_split['commit'], median['ours'])}; "
                f"users counted {split(ours_split['count'], median['ours'])}; batch bounds "
                f"and other statements {split(ours_split['other'], median['ours'])}; Python "
                f"and the rest {split(median['ours'] - sum(ours_split.values()), median['ours'])}"
                "; statements per run: " + ", ".join(f"{k} {v:,}" for k, v in statements.items()),
                f"floor (each statement reads the sources): timestamps (UPDATE) "
                f"{split(floor_split['timestamps'], median['floor_with_ledger'])}; ledger "
                f"(INSERT ... SELECT DISTINCT ... ON CONFLICT DO NOTHING) "
                f"{split(floor_split['ledger'], median['floor_with_ledger'])}",
                f"result: {users:,} users with activity, {days:,} ledger rows; "
                "backfill_last_activity with its default --batch-size 5000, USER_FIELD mode",
            ],
        ),
        Result(
            "backfill_vs_update_only",
            median["ours"] / floor_split["timestamps"],
            None,
            "the issue's first floor: the UPDATE alone, no ledger",
            [f"UPDATE alone {floor_split['timestamps']:.1f} s"],
        ),
    ]


def _sources() -> list[dict[str, str]]:
    from django.conf import settings

    return list(settings.SOURCES)
