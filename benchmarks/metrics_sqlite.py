"""``get_activity_metrics()`` (one query) vs three ``.count()`` queries, on SQLite.

::

    .venv/bin/python -m benchmarks.metrics_sqlite [--users 100000] [--repeats 15]

Builds a throw-away SQLite file with ``--users`` users, 70 % of them active at a random
moment of the last 90 days (seeded), in both storage modes: the package's table and the
``USER_FIELD`` column. Then, per mode, times ``get_activity_metrics(now=...)`` against
``get_active_users(1 / 7 / 30, now=...).count()`` (three queries: what a project without the
one-query aggregate would run; it still lacks ``total_users``), interleaved and alternating
which goes first, and prints the median of each and their ratio. Self-contained: it
configures its own settings, so it needs neither PostgreSQL nor the test settings.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import django
from django.conf import settings

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=dt_timezone.utc)


def configure(path: str) -> None:
    settings.configure(
        SECRET_KEY="benchmarks-only",
        USE_TZ=True,
        TIME_ZONE="UTC",
        AUTH_USER_MODEL="testapp.User",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "strawberry_activity",
            "tests.testapp",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        STRAWBERRY_ACTIVITY={},
    )
    django.setup()


def fill(users: int, seed: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from strawberry_activity.models import UserActivity
    from tests.testapp.models import User

    call_command("migrate", verbosity=0)
    rng = random.Random(seed)
    batch = 10_000
    with transaction.atomic():
        for start in range(0, users, batch):
            rows = []
            for i in range(start, min(start + batch, users)):
                active = rng.random() < 0.7
                ts = NOW - timedelta(seconds=rng.randint(0, 90 * 86400)) if active else None
                rows.append(User(username=f"user{i}", password="!", last_activity_at=ts))
            created = User.objects.bulk_create(rows)
            UserActivity.objects.bulk_create(
                UserActivity(user=u, last_activity_at=u.last_activity_at)
                for u in created
                if u.last_activity_at is not None
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what a long-lived database has: planner statistics


def median_seconds(
    one: Callable[[], Any], other: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Median time of each, measured interleaved (each repeat runs both, alternating order)."""
    times: tuple[list[float], list[float]] = ([], [])
    one(), other()  # warm the page cache and the statement cache
    for r in range(repeats):
        order = ((0, one), (1, other)) if r % 2 == 0 else ((1, other), (0, one))
        for index, fn in order:
            started = time.perf_counter()
            fn()
            times[index].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def measure(mode: str, repeats: int) -> None:
    from django.test import override_settings

    from strawberry_activity.metrics import get_active_users, get_activity_metrics
    from tests.testapp.models import User

    overrides = {"USER_FIELD": "last_activity_at"} if mode == "user_field" else {}
    with override_settings(STRAWBERRY_ACTIVITY=overrides):

        def one_query() -> tuple[int, int, int]:
            m = get_activity_metrics(now=NOW)
            return m["dau"], m["wau"], m["mau"]

        def three_counts() -> tuple[int, int, int]:
            dau, wau, mau = (get_active_users(d, now=NOW).count() for d in (1, 7, 30))
            return dau, wau, mau

        def four_counts() -> int:
            # The three counts plus total_users: all that get_activity_metrics returns.
            three_counts()
            return int(User.objects.count())

        assert one_query() == three_counts(), "the two methods disagree"
        single, separate = median_seconds(one_query, three_counts, repeats)
        _, with_total = median_seconds(one_query, four_counts, repeats)
        dau, wau, mau = one_query()
    print(
        f"{mode:<10}  dau/wau/mau {dau:,}/{wau:,}/{mau:,}\n"
        f"            get_activity_metrics {single * 1000:8.2f} ms\n"
        f"            3 x .count()         {separate * 1000:8.2f} ms   "
        f"ratio {separate / single:5.2f}x  (3 counts / 1 query)\n"
        f"            4 x .count()         {with_total * 1000:8.2f} ms   "
        f"ratio {with_total / single:5.2f}x  (with total_users)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configure(os.path.join(tmp, "metrics.sqlite3"))
        started = time.perf_counter()
        fill(args.users, args.seed)
        print(
            f"SQLite {django.db.connection.Database.sqlite_version}, {args.users:,} users "
            f"(70% active in 90 days), filled in {time.perf_counter() - started:.1f}s; "
            f"median of {args.repeats} interleaved repeats"
        )
        for mode in ("table", "user_field"):
            measure(mode, args.repeats)
        django.db.connections.close_all()


if __name__ == "__main__":
    main()
