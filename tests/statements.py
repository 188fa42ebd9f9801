"""Telling the statements of a call apart: its reads, and the rollups a cold call stores."""

from __future__ import annotations

from django.test.utils import CaptureQueriesContext

from strawberry_activity.models import ActivityRollup, ActivityRollupVersion

_STORE = (ActivityRollup._meta.db_table, ActivityRollupVersion._meta.db_table)


def _stores(sql: str) -> bool:
    head = sql.lstrip().upper()
    if head.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
        return True
    # keep(): the version row (created if missing, then read under a lock), the rollups.
    if head.startswith("INSERT INTO"):
        return any(table in sql.split("(")[0] for table in _STORE)
    return head.startswith("SELECT VERSION FROM")


def reads(ctx: CaptureQueriesContext) -> list[str]:
    """The statements of ``ctx`` that are not a cold call storing its rollups."""
    return [q["sql"] for q in ctx.captured_queries if not _stores(q["sql"])]


def stored(ctx: CaptureQueriesContext) -> list[str]:
    """The statements of ``ctx`` storing rollups (savepoints excluded)."""
    return [
        q["sql"]
        for q in ctx.captured_queries
        if _stores(q["sql"]) and "SAVEPOINT" not in q["sql"].upper()
    ]
