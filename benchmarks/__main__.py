"""``python -m benchmarks [--quick] [--keep] [--only NAME ...]``

Creates the benchmark database (``BENCH_DATABASE_URL``), fills it in SQL, runs every
benchmark, prints one ``NAME ratio=... target=... PASS|FAIL|INFO`` line each (with detail
lines under it) and drops the database. ``--keep`` keeps it, and reuses a kept database of
the same sizes on the next run.

``--only scale`` (not in the default run) is history at 10 million users with and without
rollups, on a database of its own that it keeps (``SCALE_DATABASE_URL``, sizes from
``SCALE_USERS`` / ``SCALE_DAILY`` / ``SCALE_DAYS``, ``--rebuild`` to generate it again):
see benchmarks/scale.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.harness import Result

BENCHMARKS = (
    "hot_path",
    "query_path",
    "lookup",
    "per_field_vs_per_operation",
    "metrics",
    "series",
    "write_budget",
    "analytics",
    "backfill",  # last: it rewrites the ledger and the user table's activity column
)
# Run only when named: its own database, ~40 GB and most of an hour to generate.
EXTRA = ("scale",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument(
        "--only", nargs="+", choices=BENCHMARKS + EXTRA, help="run only these (scale: alone)"
    )
    parser.add_argument(
        "--repeats", type=int, help="samples of the per-operation benchmarks (60 quick, 600 full)"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="scale: generate its kept database again"
    )
    args = parser.parse_args(argv)
    scale_only = args.only is not None and "scale" in args.only
    if scale_only:
        if len(args.only) > 1:
            parser.error("scale runs alone: it has a database of its own")
        os.environ["BENCHMARKS_SCALE"] = "1"  # benchmarks.settings: SCALE_DATABASE_URL

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()

    import graphql
    import psycopg
    from django.db import connection

    from benchmarks import analytics, data, database, lookup, operations, writes

    if scale_only:
        from benchmarks import scale

        started = time.perf_counter()
        print(
            f"# strawberry-activity scale benchmark: Python {platform.python_version()}, "
            f"Django {django.__version__}, psycopg {psycopg.__version__}, "
            f"{os.cpu_count()} cores",
            flush=True,
        )
        measured: list[Result] = []
        for result in scale.scale(rebuild=args.rebuild):
            measured.append(result)
            _print(result)
        return _summary(measured, started)

    sizes = data.QUICK if args.quick else data.FULL
    op_repeats = args.repeats or (60 if args.quick else 600)
    # The analytics benchmark brings its own ledger: alone, it needs the users only.
    users_only = args.only is not None and set(args.only) <= {"analytics"}
    wanted = replace(sizes, sources=0, ledger_days=0) if users_only else sizes
    started = time.perf_counter()
    print(
        f"# strawberry-activity benchmarks ({'quick' if args.quick else 'full'}): "
        f"{wanted.label}; Python {platform.python_version()}, Django {django.__version__}, "
        f"strawberry-graphql {_version('strawberry-graphql')}, "
        f"graphql-core {graphql.__version__}, psycopg {psycopg.__version__}, "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    existing = data.database_sizes() if args.keep else None
    if (
        existing is None
        or existing.users != wanted.users
        or (not users_only and existing.sources != wanted.sources)
    ):
        print(f"# generating {wanted.label} in {connection.settings_dict['NAME']}", flush=True)
        data.create_database()
        data.generate(wanted)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"# PostgreSQL {cursor.fetchone()[0]}", flush=True)

    runners: dict[str, Callable[[], list[Result]]] = {
        "hot_path": lambda: operations.hot_path(op_repeats),
        "query_path": lambda: operations.query_path(op_repeats),
        "lookup": lambda: lookup.lookup(op_repeats),
        "per_field_vs_per_operation": lambda: operations.per_field_vs_per_operation(
            op_repeats // 4
        ),
        "metrics": lambda: database.metrics(sizes),
        "series": lambda: database.series(sizes),
        "write_budget": lambda: writes.write_budget(quick=args.quick),
        "analytics": lambda: analytics.analytics(sizes),
        "backfill": lambda: database.backfill(sizes),
    }
    results: list[Result] = []
    try:
        for name in args.only or BENCHMARKS:
            for result in runners[name]():
                results.append(result)
                _print(result)
    finally:
        if not args.keep:
            data.drop_database()
    return _summary(results, started)


def _print(result: Result) -> None:
    print(result.line(), flush=True)
    for detail in [f"sizes: {result.sizes}", *result.details]:
        print(f"    {detail}", flush=True)


def _summary(results: list[Result], started: float) -> int:
    """The closing table; the exit status: 1 when a target is missed."""
    print(f"# {len(results)} results in {time.perf_counter() - started:.0f}s")
    print()
    print("| benchmark | ratio | target | verdict | sizes |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.ratio:.3f} | {r.target_text} | {r.verdict} | {r.sizes} |")
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


if __name__ == "__main__":
    sys.exit(main())
