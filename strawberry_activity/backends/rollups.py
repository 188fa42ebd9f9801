"""Rollups of the ``db`` backend: the numbers of days that are over, kept (docs/scale.md).

A rollup is one number (``ActivityRollup``: kind, metric, day, key -> value) computed from
the ledger days ``since .. until`` (``since`` None: every day up to ``until``, as a user's
first period needs). Three rules keep every rollup equal to what the ledger says now:

* only days before ``periods.first_open_day()`` are kept: today's numbers (and those of a
  day less than ``GRACE`` past its midnight) are always counted from the ledger;
* a change to a ledger day that may be over (a late write, a backfill, a prune, a deleted
  user) deletes the rollups computed from that day and bumps ``ActivityRollupVersion``,
  in the transaction of the change (``invalidate``);
* a reader stores what it counted only if the version its ledger read saw is still the
  current one, holding the version row's lock while it inserts (``keep``): a change that
  committed after that read makes the versions differ (nothing is stored), and one still
  running waits for the insert, then deletes what was stored.

The readers (``DatabaseBackend.daily_counts`` and the growth analytics) read their kept
rows, the version and, only for what is missing, the ledger in one statement.

A statement is planned before it runs, for every branch it has: one that may read the
ledger is planned (and, on PostgreSQL, JIT-compiled: 0.3-0.5 s) for it, even when its
rollups are all kept and the branch never runs. So a read that found everything kept last
time in this process (``seen_complete``) asks for the kept rows alone; if something went
missing since (a change forgot it), it asks again with the ledger (two statements, once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from datetime import date
from typing import Any

from cachetools import LRUCache
from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from strawberry_activity.models import ActivityRollup, ActivityRollupVersion

__all__ = [
    "Row",
    "forget_seen",
    "invalidate",
    "keep",
    "kept_sql",
    "seen_complete",
    "settle",
    "storable",
    "version_sql",
]

logger = logging.getLogger("strawberry_activity")

#: One rollup: (kind, metric, day, key, value, since, until).
Row = tuple[str, str, date, int, int, date | None, date]

#: Rows per INSERT statement (7 parameters each, well under SQLite's limit).
_CHUNK = 500

#: The reads (their arguments) that last found all their rollups kept, in this process.
_complete: LRUCache[Hashable, bool] = LRUCache(maxsize=1024)
_complete_lock = threading.Lock()


def seen_complete(read: Hashable | None) -> bool:
    """Whether ``read`` found all its rollups kept (or kept them) last time: a hint for
    the shape of its next statement, never an answer. None: a read that can never be all
    kept (part of it is still running), which always reads the ledger."""
    if read is None:
        return False
    with _complete_lock:
        return _complete.get(read, False)


def settle(read: Hashable | None, alias: str, *, complete: bool, with_ledger: bool) -> bool:
    """Note what ``read`` found; True when it must ask again, with the ledger: it left
    the ledger out (``seen_complete``) and something went missing since."""
    if read is None:
        return False
    with _complete_lock:
        if complete or (with_ledger and storable(alias)):
            # All kept, or kept by this read once it stores what it counted.
            _complete[read] = True
        else:
            _complete.pop(read, None)
    return not complete and not with_ledger


def forget_seen() -> None:
    """Forget every hint (a change in this process, or a test starting afresh)."""
    with _complete_lock:
        _complete.clear()


def _tables(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    qn = connection.ops.quote_name
    return qn(ActivityRollup._meta.db_table), qn(ActivityRollupVersion._meta.db_table)


def invalidate(
    connection: BaseDatabaseWrapper,
    kind: str | None,
    first: date | None = None,
    last: date | None = None,
) -> None:
    """In the current transaction: delete the rollups of ``kind`` (None: every kind)
    computed from a ledger day in ``first .. last`` (None: no bound on that side), and
    bump the version so that no reader stores a count made before this change."""
    forget_seen()
    rollups, versions = _tables(connection)
    where: list[str] = []
    params: list[Any] = []
    if kind is not None:
        where.append("kind = %s")
        params.append(kind)
    if first is not None:
        where.append("until >= %s")
        params.append(connection.ops.adapt_datefield_value(first))
    if last is not None:
        where.append("(since IS NULL OR since <= %s)")
        params.append(connection.ops.adapt_datefield_value(last))
    with connection.cursor() as cursor:
        # The version first: a reader inserting right now holds its lock, so this waits
        # for that insert to commit, and the DELETE below then sees (and deletes) it.
        cursor.execute(
            f"INSERT INTO {versions} (id, version) VALUES (1, 1)"
            f" ON CONFLICT (id) DO UPDATE SET version = {versions}.version + 1"
        )
        cursor.execute(
            f"DELETE FROM {rollups}" + (f" WHERE {' AND '.join(where)}" if where else ""),
            params,
        )


def version_sql(connection: BaseDatabaseWrapper) -> str:
    """A scalar subquery: the current version (NULL before the first change)."""
    return f"(SELECT version FROM {_tables(connection)[1]} WHERE id = 1)"


def kept_sql(
    connection: BaseDatabaseWrapper, kind: str, metric: str, first: date, last: date
) -> tuple[str, list[Any]]:
    """SELECT ``day, key, value`` of the kept rollups of ``metric`` for days
    ``first .. last`` (alias ``k``), with its parameters."""
    adapt = connection.ops.adapt_datefield_value
    return (
        f"SELECT k.day AS day, k.{connection.ops.quote_name('key')} AS key, k.value AS value"
        f" FROM {_tables(connection)[0]} k"
        " WHERE k.kind = %s AND k.metric = %s AND k.day >= %s AND k.day <= %s",
        [kind, metric, adapt(first), adapt(last)],
    )


def storable(alias: str) -> bool:
    """Whether counts read on ``alias`` may be kept: only those read where rollups are
    written (a replica may lag behind a change that already deleted them)."""
    return alias == router.db_for_write(ActivityRollup)


def keep(alias: str, seen: int | None, rows: Sequence[Row]) -> None:
    """Store ``rows``, counted by a read that saw version ``seen``, unless the ledger
    changed since. A failure is logged and loses nothing: the next read counts again."""
    if not rows:
        return
    connection = connections[alias]
    rollups, versions = _tables(connection)
    qn = connection.ops.quote_name
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    adapt = connection.ops.adapt_datefield_value
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {versions} (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"
            )
            cursor.execute(f"SELECT version FROM {versions} WHERE id = 1{lock}")
            (current,) = cursor.fetchone()
            if int(current) != int(seen or 0):
                return
            for i in range(0, len(rows), _CHUNK):
                chunk = rows[i : i + _CHUNK]
                values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
                params: list[Any] = []
                for kind, metric, day, key, value, since, until in chunk:
                    params += [kind, metric, adapt(day), key, value, adapt(since), adapt(until)]
                cursor.execute(
                    f"INSERT INTO {rollups} (kind, metric, day, {qn('key')}, value, since, until)"
                    f" VALUES {values} ON CONFLICT (kind, metric, day, {qn('key')}) DO UPDATE"
                    " SET value = excluded.value, since = excluded.since, until = excluded.until",
                    params,
                )
    except DatabaseError:
        logger.warning("strawberry-activity: could not keep %d rollups", len(rows), exc_info=True)
