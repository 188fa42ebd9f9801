"""A 90-day DAU / WAU / MAU series over a ledger of 100,000 users x 60 days, on SQLite.

    .venv/bin/python -m benchmarks.series_sqlite [--users 100000] [--days 60]

Prints, per metric, the median time of ``get_activity_series`` over the 90 days ending on
the ledger's last day, and the number of SQL queries it issued (the contract: one).
The database is a temporary SQLite file; rows are generated in SQL, not by the ORM.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date, timedelta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path = os.path.join(tempfile.mkdtemp(), "series.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = path
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from strawberry_activity import get_activity_series
    from strawberry_activity.models import ActivityDay
    from tests.testapp.models import User

    call_command("migrate", verbosity=0)
    last = date(2026, 11, 20)
    first = last - timedelta(days=args.days - 1)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"INSERT INTO {User._meta.db_table} (id, password, is_superuser, username, "
            "first_name, last_name, email, is_staff, is_active, date_joined) "
            "SELECT i, '', 0, 'u' || i, '', '', '', 0, 1, '2026-01-01' FROM n",
            [args.users],
        )
        cursor.execute(
            f"WITH RECURSIVE d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < %s) "
            f"INSERT INTO {ActivityDay._meta.db_table} (user_id, kind, day) "
            "SELECT u.id, 'default', date(%s, '+' || d.k || ' days') "
            f"FROM {User._meta.db_table} u CROSS JOIN d",
            [args.days - 1, first.isoformat()],
        )
        cursor.execute("ANALYZE")
    rows = ActivityDay.objects.count()
    print(
        f"ledger: {rows:,} rows ({args.users:,} users x {args.days} days) "
        f"generated in {time.perf_counter() - started:.1f} s; SQLite file {path}"
    )

    start = last - timedelta(days=89)
    for metric in ("dau", "wau", "mau"):
        times = []
        for _ in range(args.repeats):
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                points = get_activity_series(metric, start, last)
                times.append(time.perf_counter() - t0)
        assert len(points) == 90
        print(
            f"{metric}: median {statistics.median(times):.2f} s over {args.repeats} runs, "
            f"{len(ctx.captured_queries)} query, last point {points[-1][1]:,}"
        )


if __name__ == "__main__":
    main()
