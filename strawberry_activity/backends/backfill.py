"""The set-based SQL of ``backfill_last_activity`` for the ``db`` backend.

The sources are read once: ``staged`` aggregates every source row of the window (a union
over ``ACTIVITY_SOURCES``) into a temporary table of (user, day, newest time that day),
ordered and indexed by user. Each batch of users (a primary-key range) then reads its
range of that table: one statement raises each stored last activity that is older (never
lowers one), one adds every user-day found to the ledger, one counts the users. Reading the
sources per batch instead read their pages again for every batch (the rows are in time
order, a batch's users are everywhere), and twice: 1.9x a hand-written pass at 1M users.

The stage is a snapshot taken when the command starts: source rows written while it runs
are the live path's to track (they are recent, and it records them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, QuerySet
from django.db.models.functions import TruncDate

from strawberry_activity.backends.base import SourceSpec
from strawberry_activity.models import ActivityDay, UserActivity

if TYPE_CHECKING:
    from strawberry_activity.backends.db import DatabaseBackend

__all__ = ["STAGE", "backfill_batch", "compiled", "staged"]

STAGE = "strawberry_activity_backfill"  # a temporary table: the connection's own


def compiled(qs: QuerySet[Any], using: str) -> tuple[str, tuple[Any, ...]]:
    """A queryset's SQL and parameters, to embed in a larger statement."""
    sql, params = qs.query.get_compiler(using).as_sql()
    return sql, tuple(params)


def _source_rows(source: SourceSpec, since: datetime, day_timezone: str, using: str) -> Any:
    """One source's (uid, d, ts) rows of the window, as SQL and parameters."""
    model = apps.get_model(source["model"])
    user_field, ts_field = source["user_field"], source["timestamp_field"]
    rows = (
        model._default_manager.using(using)
        .filter(**{f"{ts_field}__gte": since, f"{user_field}__isnull": False})
        .order_by()
        .values(
            uid=F(user_field),
            d=TruncDate(ts_field, tzinfo=ZoneInfo(day_timezone)),
            ts=F(ts_field),
        )
    )
    return compiled(rows, using)


@contextmanager
def staged(
    connection: BaseDatabaseWrapper,
    sources: Sequence[SourceSpec],
    since: datetime,
    day_timezone: str,
) -> Iterator[str]:
    """Every source row of the window, once, as (uid, d, ts): one row per user-day with
    its newest time, in a temporary table dropped on the way out."""
    parts = [_source_rows(source, since, day_timezone, connection.alias) for source in sources]
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) p" for sql, _ in parts)
    params = tuple(p for _, values in parts for p in values)
    stage = connection.ops.quote_name(STAGE)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {stage}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} AS SELECT s.uid, s.d, MAX(s.ts) AS ts "
            f"FROM ({union}) s GROUP BY s.uid, s.d ORDER BY s.uid, s.d",
            params,
        )
        # In user order already: the index is a cheap build and each batch's range is a
        # few adjacent pages. Temporary tables get no autovacuum: the planner needs ANALYZE.
        cursor.execute(f"CREATE INDEX {connection.ops.quote_name(STAGE + '_uid')} ON {stage} (uid)")
        cursor.execute(f"ANALYZE {stage}")
    try:
        yield STAGE
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {stage}")


def backfill_batch(
    backend: DatabaseBackend,
    connection: BaseDatabaseWrapper,
    stage: str,
    kind: str,
    bounds: Mapping[str, Any],
    dry_run: bool,
) -> dict[str, int]:
    """One batch of users, ``bounds`` their primary-key range (``gt``, ``lte``; None is open)."""
    qn = connection.ops.quote_name
    conditions, params = ["true"], []
    for op, value in ((">", bounds.get("gt")), ("<=", bounds.get("lte"))):
        if value is not None:
            conditions.append(f"s.uid {op} %s")
            params.append(value)
    rows = f"{qn(stage)} s WHERE {' AND '.join(conditions)}"
    # One row per user: the newest source activity in the window.
    latest = f"SELECT s.uid, MAX(s.ts) AS ts FROM {rows} GROUP BY s.uid"

    table = qn(UserActivity._meta.db_table)
    ledger = qn(ActivityDay._meta.db_table)
    last = qn("last_activity_at")
    user_col, kind_col, day_col = qn("user_id"), qn("kind"), qn("day")
    if backend.uses_user_field(kind):
        assert backend.user_field is not None
        meta = backend.user_model._meta
        target = qn(meta.db_table)
        field = qn(str(getattr(meta.get_field(backend.user_field), "column", backend.user_field)))
        assert meta.pk is not None
        pk = qn(str(meta.pk.column))
        stale = f"{target}.{field} IS NULL OR {target}.{field} < latest.ts"
        stale_sql = (
            f"SELECT COUNT(*) FROM ({latest}) latest JOIN {target} ON {target}.{pk} = latest.uid "
            f"WHERE {stale}"
        )
        stale_params: tuple[Any, ...] = tuple(params)
        write_sql = (
            f"UPDATE {target} SET {field} = latest.ts FROM ({latest}) latest "
            f"WHERE {target}.{pk} = latest.uid AND ({stale})"
        )
        write_params: tuple[Any, ...] = tuple(params)
    else:
        stale_sql = (
            f"SELECT COUNT(*) FROM ({latest}) latest LEFT JOIN {table} a "
            f"ON a.{user_col} = latest.uid AND a.{kind_col} = %s "
            f"WHERE a.{last} IS NULL OR a.{last} < latest.ts"
        )
        stale_params = (*params, kind)
        write_sql = (
            f"INSERT INTO {table} ({user_col}, {kind_col}, {last}) "
            f"SELECT latest.uid, %s, latest.ts FROM ({latest}) latest WHERE true "
            f"ON CONFLICT ({user_col}, {kind_col}) DO UPDATE SET {last} = excluded.{last} "
            f"WHERE {table}.{last} < excluded.{last}"
        )
        write_params = (kind, *params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(DISTINCT s.uid) FROM {rows}", params)
        users = cursor.fetchone()[0]
        if dry_run:
            cursor.execute(stale_sql, stale_params)
            stale_users = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT COUNT(*) FROM {rows} AND NOT EXISTS (SELECT 1 FROM {ledger} l "
                f"WHERE l.{user_col} = s.uid AND l.{kind_col} = %s AND l.{day_col} = s.d)",
                (*params, kind),
            )
            return {"users": users, "updated": stale_users, "days": cursor.fetchone()[0]}
        cursor.execute(write_sql, write_params)
        updated = cursor.rowcount
        # ON CONFLICT alone skips the days already there, and rowcount counts only the
        # rows inserted: a NOT EXISTS as in the dry run would be a second probe per row.
        cursor.execute(
            f"INSERT INTO {ledger} ({user_col}, {kind_col}, {day_col}) "
            f"SELECT s.uid, %s, s.d FROM {rows} "
            f"ON CONFLICT ({user_col}, {kind_col}, {day_col}) DO NOTHING",
            (kind, *params),
        )
        return {"users": users, "updated": updated, "days": cursor.rowcount}
