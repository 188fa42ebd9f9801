"""The default backend: the package's own tables through the Django ORM and plain SQL.

Writes are single guarded upserts (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), which
PostgreSQL and SQLite both speak, so a write is one statement whether or not the row exists,
and two workers racing on one user can neither deadlock nor move a timestamp backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db import DatabaseError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateField, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from strawberry_activity.backends import analytics, rollups
from strawberry_activity.backends.backfill import backfill_batch, compiled, staged
from strawberry_activity.backends.base import BaseBackend, SourceSpec, Stored
from strawberry_activity.backends.dialect import EPOCH, date_of, day_number, epoch_day
from strawberry_activity.conf import activity_settings
from strawberry_activity.models import DEFAULT_KIND, ActivityDay, ActivityRollup, UserActivity
from strawberry_activity.periods import first_open_day, local_today

__all__ = ["DatabaseBackend"]

logger = logging.getLogger("strawberry_activity")

_DAY = timedelta(days=1)


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _set_local_timeouts(
    connection: BaseDatabaseWrapper, lock: int | str, statement: int | str | None = None
) -> tuple[str, str]:
    """PostgreSQL's ``lock_timeout`` and ``statement_timeout`` for the rest of the current
    transaction or savepoint (``SET LOCAL``: a rolled-back savepoint undoes it, a released
    one hands it to the enclosing transaction). Returns the values they had."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),"
            " set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (str(lock), str(lock if statement is None else statement)),
        )
        lock_was, statement_was, *_ = cursor.fetchone()
    return lock_was, statement_was


class DatabaseBackend(BaseBackend):
    """Stores activity in ``UserActivity`` / ``ActivityDay`` (or ``USER_FIELD``)."""

    supports_user_field = True

    # -- writing -----------------------------------------------------------------------

    def uses_user_field(self, kind: str) -> bool:
        """Whether ``kind`` lives in the user model's ``USER_FIELD`` (the default kind only)."""
        return self.user_field is not None and kind == DEFAULT_KIND

    def transaction_alias(self, kind: str) -> str:
        return router.db_for_write(self.user_model if self.uses_user_field(kind) else UserActivity)

    def write(
        self, user_pk: Any, kind: str, ts: datetime, *, older_than: datetime, day: date | None
    ) -> Stored:
        using = self.transaction_alias(kind)
        connection = connections[using]
        with self._isolated(connection):
            if self.uses_user_field(kind):
                field = str(self.user_field)
                due = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": older_than})
                users = self.user_model._base_manager.using(using).filter(pk=user_pk)
                written = bool(users.filter(due).update(**{field: ts}))
            else:
                written = self._upsert(connection, user_pk, kind, ts, older_than)
            stored = ts if written else self.last_activity(user_pk, kind)
            if day is not None:
                self._insert_day(connections[router.db_for_write(ActivityDay)], user_pk, kind, day)
        return Stored(written, stored)

    def add_day(self, user_pk: Any, kind: str, day: date) -> None:
        connection = connections[router.db_for_write(ActivityDay)]
        with self._isolated(connection):
            self._insert_day(connection, user_pk, kind, day)

    @contextmanager
    def _isolated(self, connection: BaseDatabaseWrapper) -> Iterator[None]:
        """One unit of tracking statements that can fail alone and cannot wait long.

        Inside the caller's transaction (``atomic()``, ``ATOMIC_REQUESTS`` or manual
        transaction management) it is a savepoint: a failing statement must not abort the
        caller's transaction (PostgreSQL refuses every later statement of an aborted one).
        In autocommit it is a transaction of its own. Either way ``timeout`` bounds every
        lock wait and statement in it, and the caller's own limits are restored after.
        """
        nested = connection.in_atomic_block or not connection.get_autocommit()
        if connection.vendor == "sqlite" and nested and not connection.connection.in_transaction:
            # Manual transaction management before the caller's first statement: SQLite
            # would make our savepoint the transaction, and its release a COMMIT.
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
        if self.timeout is not None and connection.vendor == "sqlite":
            # SQLite waits for a locked database file up to its busy timeout, a setting of
            # the connection rather than of the transaction.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout")
                (previous,) = cursor.fetchone()
                cursor.execute(f"PRAGMA busy_timeout = {_milliseconds(self.timeout)}")
            try:
                with transaction.atomic(using=connection.alias):
                    yield
            finally:
                with connection.cursor() as cursor:
                    cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
            return
        with transaction.atomic(using=connection.alias):
            restore = None
            if self.timeout is not None and connection.vendor == "postgresql":
                restore = _set_local_timeouts(connection, _milliseconds(self.timeout))
            yield
            if restore is not None and nested:
                _set_local_timeouts(connection, *restore)

    def _user_exists_sql(self, connection: BaseDatabaseWrapper) -> str:
        meta = self.user_model._meta
        qn = connection.ops.quote_name
        assert meta.pk is not None
        return f"EXISTS (SELECT 1 FROM {qn(meta.db_table)} WHERE {qn(str(meta.pk.column))} = %s)"

    def _pk(self, connection: BaseDatabaseWrapper, user_pk: Any) -> Any:
        return self.user_model._meta.pk.get_db_prep_value(user_pk, connection)

    def _upsert(
        self,
        connection: BaseDatabaseWrapper,
        user_pk: Any,
        kind: str,
        ts: datetime,
        older_than: datetime,
    ) -> bool:
        qn = connection.ops.quote_name
        table = qn(UserActivity._meta.db_table)
        last = qn("last_activity_at")
        # INSERT ... SELECT ... WHERE EXISTS: a deleted user is skipped here rather than
        # failing a (deferred) foreign key at the caller's COMMIT.
        sql = (
            f"INSERT INTO {table} ({qn('user_id')}, {qn('kind')}, {last}) "
            f"SELECT %s, %s, %s WHERE {self._user_exists_sql(connection)} "
            f"ON CONFLICT ({qn('user_id')}, {qn('kind')}) "
            f"DO UPDATE SET {last} = excluded.{last} WHERE {table}.{last} < %s"
        )
        pk = self._pk(connection, user_pk)
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(sql, (pk, kind, adapt(ts), pk, adapt(older_than)))
            return bool(cursor.rowcount)

    def _insert_day(
        self, connection: BaseDatabaseWrapper, user_pk: Any, kind: str, day: date
    ) -> None:
        qn = connection.ops.quote_name
        sql = (
            f"INSERT INTO {qn(ActivityDay._meta.db_table)} "
            f"({qn('user_id')}, {qn('kind')}, {qn('day')}) "
            f"SELECT %s, %s, %s WHERE {self._user_exists_sql(connection)} "
            f"ON CONFLICT ({qn('user_id')}, {qn('kind')}, {qn('day')}) DO NOTHING"
        )
        pk = self._pk(connection, user_pk)
        with connection.cursor() as cursor:
            cursor.execute(sql, (pk, kind, connection.ops.adapt_datefield_value(day), pk))
            inserted = cursor.rowcount
        if inserted and day < local_today():
            # A late write (``ts`` in the past, or a request that began before midnight):
            # that day may be over and rolled up. Forgotten once this write commits, in a
            # short transaction of its own: the caller's transaction may hold other rows
            # and never holds the rollups' version lock (no deadlock between writers).
            transaction.on_commit(partial(self._forget_day, kind, day), using=connection.alias)

    def _forget_day(self, kind: str, day: date) -> None:
        connection = connections[router.db_for_write(ActivityDay)]
        try:
            with self._isolated(connection):
                rollups.invalidate(connection, kind, day, day)
        except DatabaseError:
            # Logged: those rollups may be stale until `activity_rollup --rebuild`.
            logger.warning(
                "strawberry-activity could not forget the rollups of %s (%s)",
                day,
                kind,
                exc_info=True,
            )

    def last_activity(self, user_pk: Any, kind: str) -> datetime | None:
        # From the database writes go to (not a replica): the guard's own view.
        using = self.transaction_alias(kind)
        if self.uses_user_field(kind):
            value: datetime | None = (
                self.user_model._base_manager.using(using)
                .filter(pk=user_pk)
                .values_list(str(self.user_field), flat=True)
                .first()
            )
            return value
        return (
            UserActivity.objects.using(using)
            .filter(user_id=user_pk, kind=kind)
            .values_list("last_activity_at", flat=True)
            .first()
        )

    # -- reading -----------------------------------------------------------------------

    def _restrict_to_users(self, qs: QuerySet[Any], using: str | None) -> QuerySet[Any]:
        # Rows are deleted with their user, so only a default manager that filters
        # (soft-deleted users, say) needs the semi-join.
        users = self.users(using)
        if users.query.has_filters():
            return qs.filter(user__in=users.values("pk"))
        return qs

    def _recent(self, since: datetime, kind: str, using: str | None) -> QuerySet[Any]:
        """The rows (activity or user) active since ``since``, as a queryset."""
        if self.uses_user_field(kind):
            return self.users(using).filter(**{f"{self.user_field}__gte": since})
        qs = UserActivity.objects.filter(kind=kind, last_activity_at__gte=since)
        if using:
            qs = qs.using(using)
        return self._restrict_to_users(qs, using)

    def stored_activity(self, kind: str) -> Any:
        if self.uses_user_field(kind):
            return F(str(self.user_field))
        rows = UserActivity.objects.filter(user=OuterRef("pk"), kind=kind)
        return Subquery(rows.values("last_activity_at")[:1])

    def stored_kinds(self, using: str | None) -> set[str]:
        rows = UserActivity.objects.using(using or router.db_for_read(UserActivity))
        kinds = set(rows.values_list("kind", flat=True).distinct())
        return kinds | {DEFAULT_KIND} if self.user_field is not None else kinds

    def active_users(self, since: datetime, kind: str, using: str | None) -> QuerySet[Any]:
        if self.uses_user_field(kind):
            return self._recent(since, kind, using)
        return self.users(using).filter(pk__in=self._recent(since, kind, using).values("user_id"))

    def counts(
        self, windows: Mapping[str, datetime], kind: str, using: str | None
    ) -> dict[str, int]:
        alias = using or router.db_for_read(UserActivity)
        connection = connections[alias]
        column = self.user_field if self.uses_user_field(kind) else "last_activity_at"
        assert column is not None
        recent_sql, recent_params = compiled(
            self._recent(min(windows.values()), kind, alias).values(column), alias
        )
        users_sql, users_params = compiled(self.users(alias).values("pk"), alias)
        adapt = connection.ops.adapt_datetimefield_value
        t = f"recent.{connection.ops.quote_name(column)}"
        if connection.features.supports_aggregate_filter_clause:
            count = f"COUNT(*) FILTER (WHERE {t} >= %s)"
        else:
            count = f"COUNT(CASE WHEN {t} >= %s THEN 1 END)"
        # One statement: the windows by conditional aggregation over one index range scan,
        # total_users as a scalar subquery.
        sql = (
            f"SELECT (SELECT COUNT(*) FROM ({users_sql}) users), "
            + ", ".join(count for _ in windows)
            + f" FROM ({recent_sql}) recent"
        )
        params = (*users_params, *(adapt(since) for since in windows.values()), *recent_params)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        total, *values = row
        return {"total_users": int(total), **dict(zip(windows, map(int, values), strict=True))}

    def daily_counts(
        self, window_days: int, start: date, end: date, kind: str, using: str | None
    ) -> list[tuple[date, int]]:
        alias = using or router.db_for_read(ActivityDay)
        connection = connections[alias]
        w = int(window_days)
        cumulative = w > 1
        if not activity_settings.ROLLUPS:
            first = start - timedelta(days=w - 1)
            sql, params = self._series_sql(connection, w, kind, first, end, alias)
            deltas = self._deltas(w, self._fetch(alias, sql, params))
            return _sweep(deltas, start, end, cumulative=cumulative)
        # Kept days from the rollups; the ledger only from the first day not kept (or not
        # over) on, w - 1 days earlier for its window; and the version: one statement.
        metric = f"active:{w}d"
        s, e = epoch_day(start), epoch_day(end)
        opened = epoch_day(first_open_day())
        closed = min(e, opened - 1)
        tail = list(range(max(s, opened), e + 1))  # the days not over, counted every time
        # When the days over are all kept, a window's last day or two (a series ending
        # today) are plain distinct counts over their w days: cheaper than the runs of
        # every user in the window. Otherwise the ledger read goes on to the end.
        apart = 0 < len(tail) <= 2
        # Found all kept last time: the statement leaves the ledger out (rollups.py).
        read = None if tail and not apart else (alias, kind, metric, s, e)
        with_ledger = not rollups.seen_complete(read)
        kept_sql, kept_params = rollups.kept_sql(connection, kind, metric, start, end)
        day = day_number(connection, "k.day")
        bound = RawSQL(
            f"(SELECT {date_of(connection, f'miss.n - {w - 1}')} FROM miss)",
            (),
            output_field=DateField(),
        )
        # Two ledger reads, of which the first day missing picks one when the statement
        # runs: from it on (a bound the planner cannot see: planned as a few days, along
        # the index) or, when it is the range's first day (nothing kept: a cold call, or
        # after a backfill), the range's own constant bounds, planned as without rollups.
        ledger_sql, ledger_params = self._series_sql(connection, w, kind, bound, end, alias)
        whole_sql, whole_params = self._series_sql(
            connection, w, kind, start - timedelta(days=w - 1), end, alias
        )
        distinct_sql, distinct_params = "", list[Any]()
        for n in tail if apart else []:
            d = EPOCH + timedelta(days=n)
            rows_sql, rows_params = self._ledger_rows(kind, d - timedelta(days=w - 1), d, alias)
            # One day: its ledger rows are its users already (one per user and day).
            users = "SELECT r.user_id FROM ({}) r" + ("" if w == 1 else " GROUP BY r.user_id")
            distinct_sql += (
                f" UNION ALL SELECT 3, {n}, (SELECT COUNT(*) FROM ({users.format(rows_sql)}) z),"
                " 0 WHERE (SELECT n FROM miss) IS NULL"
            )
            distinct_params += rows_params
        sql = (
            "WITH RECURSIVE days (n) AS (SELECT CAST(%s AS INTEGER) WHERE %s <= %s"
            " UNION ALL SELECT n + 1 FROM days WHERE n < %s),"
            f" kept (n, v) AS (SELECT {day}, k.value FROM ({kept_sql}) k WHERE k.key = 0),"
            " miss (n) AS (SELECT MIN(x.n) FROM (SELECT d.n AS n FROM days d"
            " WHERE NOT EXISTS (SELECT 1 FROM kept WHERE kept.n = d.n)"
            " UNION ALL SELECT CAST(%s AS INTEGER)) x)"
            " SELECT 1, kept.n, kept.v, 0 FROM kept"
            + (
                f" UNION ALL SELECT 0, l.n, l.a, l.b FROM ({ledger_sql}) l"
                " WHERE (SELECT n FROM miss) > %s"
                f" UNION ALL SELECT 0, l.n, l.a, l.b FROM ({whole_sql}) l"
                " WHERE (SELECT n FROM miss) = %s"
                if with_ledger
                else ""
            )
            + f" UNION ALL SELECT 2, (SELECT n FROM miss), {rollups.version_sql(connection)}, 0"
            f"{distinct_sql}"
        )
        values = [
            s, s, closed, closed, *kept_params, tail[0] if tail and not apart else None,
            *((*ledger_params, s, *whole_params, s) if with_ledger else ()), *distinct_params,
        ]  # fmt: skip
        kept: dict[int, int] = {}
        counts: dict[int, int] = {}
        found: list[tuple[Any, ...]] = []
        missing = version = None
        for src, n, a, b in self._fetch(alias, sql, values):
            if src == 1:
                kept[int(n)] = int(a)
            elif src == 2:
                missing, version = n, a
            elif src == 3:
                counts[int(n)] = int(a)
            else:
                found.append((n, a, b))
        if rollups.settle(read, alias, complete=missing is None, with_ledger=with_ledger):
            return self.daily_counts(window_days, start, end, kind, using)
        counted: list[tuple[date, int]] = []
        if missing is not None:
            counted = _sweep(
                self._deltas(w, found),
                EPOCH + timedelta(days=int(missing)),
                end,
                cumulative=cumulative,
            )
            self._keep(
                alias,
                version,
                [
                    (kind, metric, d, 0, value, d - timedelta(days=w - 1), d)
                    for d, value in counted
                    if epoch_day(d) <= closed
                ],
                [(n, 0, value) for n, value in kept.items()],
            )
        counts.update((epoch_day(d), value) for d, value in counted)
        # Kept before the first day counted from the ledger; counted from it on.
        first_counted = int(missing) if missing is not None else e + 1
        return [
            (EPOCH + timedelta(days=n), kept[n] if n < first_counted and n in kept else counts[n])
            for n in range(s, e + 1)
        ]

    def _series_sql(
        self, connection: BaseDatabaseWrapper, w: int, kind: str, first: Any, end: date, alias: str
    ) -> tuple[str, tuple[Any, ...]]:
        """SQL of ``(n, a, b)`` rows over the ledger days ``first .. end`` (``first`` a date
        or an expression): for a one-day window, ``a`` users on day ``n``; otherwise ``a``
        coverage runs starting and ``b`` ending on day ``n`` (see ``_deltas``)."""
        rows = ActivityDay.objects.using(alias).filter(kind=kind, day__gte=first, day__lte=end)
        rows_sql, rows_params = compiled(
            self._restrict_to_users(rows, alias).values("user_id", "day"), alias
        )
        d = day_number(connection, "r.day")
        if w == 1:
            # A ledger row is already one user-day: DAU is a plain count per day, grouped
            # along the (kind, day, user) index.
            return f"SELECT {d} AS n, COUNT(*) AS a, 0 AS b FROM ({rows_sql}) r GROUP BY r.day", (
                rows_params
            )
        # A user's coverage (the days whose window holds one of their rows) is a union of
        # runs: a run starts at a row with no row in the w days before it, and ends w days
        # after a row with none in the w days after it. +1 at each start and -1 at each end,
        # summed in day order, is the exact distinct count per sliding window. Only the
        # boundary rows leave the window functions, so the GROUP BY input stays small.
        starts, ends = f"p IS NULL OR n > p + {w}", f"q IS NULL OR q > n + {w}"
        sql = (
            f"SELECT n, SUM(CASE WHEN {starts} THEN 1 ELSE 0 END) AS a,"
            f" SUM(CASE WHEN {ends} THEN 1 ELSE 0 END) AS b FROM ("
            " SELECT n, LAG(n) OVER win AS p, LEAD(n) OVER win AS q"
            f" FROM (SELECT r.user_id, {d} AS n FROM ({rows_sql}) r) x"
            " WINDOW win AS (PARTITION BY user_id ORDER BY n)"
            f") y WHERE {starts} OR {ends} GROUP BY n"
        )
        return sql, rows_params

    @staticmethod
    def _deltas(w: int, rows: Sequence[tuple[Any, ...]]) -> dict[int, int]:
        """``_series_sql``'s rows as per-day counts (w = 1) or +/- edges to sum."""
        deltas: dict[int, int] = {}
        for n, a, b in rows:
            deltas[int(n)] = deltas.get(int(n), 0) + int(a)
            if w > 1 and b:
                deltas[int(n) + w] = deltas.get(int(n) + w, 0) - int(b)
        return deltas

    # -- growth analytics (docs/analytics.md) ------------------------------------------------------
    #
    # A user's first period needs their earliest ledger row, so retention and lifecycle
    # read the kind's rows up to the range's last day, older ones included. Two shapes, one
    # statement each:
    #
    # * up to MASK_BITS periods (any week or month range of MAX_DAYS = 366, and day ranges
    #   of two months): one row per user, GROUP BY user (which PostgreSQL runs in parallel
    #   along the (user, kind, day) index): the first day and a bit mask of the periods
    #   they were active in; then one row per distinct mask, counted; then the bits are
    #   read out per period. No sort, and the last steps see thousands of rows, not millions.
    # * longer ranges: the ledger rows in (user, day) order with window functions (first
    #   day, previous and next row), a user's first row in each period counted per period.

    def _ledger_rows(
        self, kind: str, first: date | None, last: date, alias: str
    ) -> tuple[str, tuple[Any, ...]]:
        rows = ActivityDay.objects.using(alias).filter(kind=kind, day__lte=last)
        if first is not None:
            rows = rows.filter(day__gte=first)
        return compiled(self._restrict_to_users(rows, alias).values("user_id", "day"), alias)

    def _fetch(self, alias: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())

    def _through_rollups(
        self,
        alias: str,
        kind: str,
        metric: str,
        kept: tuple[date, date, str, Sequence[Any]],
        expected: int,
        ledger: Callable[[], tuple[str, Sequence[Any]]],
        tail: tuple[str, Sequence[Any]] | None = None,
        *,
        running: bool = False,
    ) -> tuple[
        list[tuple[int, int, int]], list[tuple[Any, ...]] | None, Any, list[tuple[Any, ...]] | None
    ]:
        """One statement: the kept rollups of ``metric`` (days ``first .. last`` of ``kept``
        matching its condition), the version, and the ledger rows of ``ledger()`` only when
        fewer than ``expected`` rollups are kept: a condition on no column, which the
        database tests once, before it starts reading (or planning workers for) the ledger.
        ``running``: part of the answer is still running; ``tail`` (SQL and parameters)
        counts that part, read only when the rollups are all kept; without it, the ledger
        is read every time. A read that found them all kept last time leaves the ledger out
        of the statement (see ``rollups.seen_complete``), and asks again with it if
        something went missing since.

        Returns the kept ``(day number, key, value)``, the ledger rows (None when the
        ledger was not read), the version and the tail rows (None when not read). Without
        ``ROLLUPS``: the ledger rows only.
        """
        if not activity_settings.ROLLUPS:
            sql, params = ledger()
            return [], self._fetch(alias, sql, params), None, None
        connection = connections[alias]
        first, last, where, where_params = kept
        ledger_always = running and tail is None
        read: Hashable | None = (
            None if ledger_always else (alias, kind, metric, first, last, where, (*where_params,))
        )
        with_ledger = not rollups.seen_complete(read)
        expected += ledger_always  # never all kept
        kept_sql, kept_params = rollups.kept_sql(connection, kind, metric, first, last)
        day = day_number(connection, "kept.day")
        sql = (
            f"WITH kept AS (SELECT k.day AS day, k.key AS key, k.value AS value"
            f" FROM ({kept_sql}) k WHERE {where})"
            f" SELECT 1, {day}, kept.key, kept.value, 0, 0 FROM kept"
        )
        params = (*kept_params, *where_params)
        if with_ledger:
            ledger_sql, ledger_params = ledger()
            sql += (
                f" UNION ALL SELECT 0, l.* FROM ({ledger_sql}) l"
                " WHERE (SELECT COUNT(*) FROM kept) < %s"
            )
            params = (*params, *ledger_params, expected)
        if tail is not None:
            tail_sql, tail_params = tail
            sql += (
                f" UNION ALL SELECT 3, t.* FROM ({tail_sql}) t"
                " WHERE (SELECT COUNT(*) FROM kept) >= %s"
            )
            params = (*params, *tail_params, expected)
        sql += f" UNION ALL SELECT 2, {rollups.version_sql(connection)}, 0, 0, 0, 0"
        found, rows, version, tails = [], [], None, []
        for src, *values in self._fetch(alias, sql, params):
            if src == 1:
                found.append((int(values[0]), int(values[1]), int(values[2])))
            elif src == 2:
                version = values[0]
            elif src == 3:
                tails.append(tuple(values))
            else:
                rows.append(tuple(values))
        complete = len(found) >= expected
        if rollups.settle(read, alias, complete=complete, with_ledger=with_ledger):
            return self._through_rollups(
                alias, kind, metric, kept, expected, ledger, tail, running=running
            )
        return found, None if complete else rows, version, tails if complete and tail else None

    def _keep(
        self,
        alias: str,
        version: Any,
        rows: Sequence[rollups.Row],
        kept: Sequence[tuple[int, int, int]],
    ) -> None:
        """Keep the ``rows`` that were not kept yet (``kept``: as ``_through_rollups``
        returns them); a range ending in an open period keeps nothing twice."""
        if activity_settings.ROLLUPS and rollups.storable(alias):
            old = {(day, key) for day, key, _ in kept}
            rollups.keep(alias, version, [r for r in rows if (epoch_day(r[2]), r[3]) not in old])

    def retention_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[tuple[date, date], int]:
        return analytics.retention_counts(self, period, start, end, kind, using)

    def lifecycle_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[date, tuple[int, int, int, int]]:
        return analytics.lifecycle_counts(self, period, start, end, kind, using)

    def active_day_counts(
        self, start: date, end: date, kind: str, using: str | None
    ) -> dict[int, int]:
        return analytics.active_day_counts(self, start, end, kind, using)

    # -- maintenance -------------------------------------------------------------------

    def prune(
        self, before: date, *, dry_run: bool = False, batch_size: int = 10_000, progress: Any = None
    ) -> int:
        alias = router.db_for_write(ActivityDay)
        ledger = ActivityDay.objects.using(alias)
        if dry_run:
            return ledger.filter(day__lt=before).count()
        # Keyset batches along the (kind, day, user) index, one transaction each: no lock
        # is held for longer than one batch, and no batch scans what an earlier one deleted.
        deleted = 0
        for kind in self._ledger_kinds(alias):
            day = ledger.filter(kind=kind, day__lt=before).order_by("day").values_list("day")
            while (first := day.first()) is not None:
                rows = ledger.filter(kind=kind, day=first[0])
                while True:
                    ids = rows.order_by("user_id").values_list("user_id", flat=True)
                    upper = ids[batch_size - 1 : batch_size].first()
                    batch = rows if upper is None else rows.filter(user_id__lte=upper)
                    with transaction.atomic(using=alias):
                        count, _ = batch.delete()
                        # Every rollup computed from a day before ``before``: the series
                        # whose window reaches it, and every first-period count.
                        rollups.invalidate(connections[alias], None, None, before - _DAY)
                    deleted += count
                    if progress is not None:
                        progress(kind, first[0], deleted)
                    if upper is None:
                        break
                    rows = rows.filter(user_id__gt=upper)
        return deleted

    def _ledger_kinds(self, alias: str) -> list[str]:
        """The ledger's kinds, one index probe each (a loose index scan)."""
        qn = connections[alias].ops.quote_name
        table = qn(ActivityDay._meta.db_table)
        return [
            kind
            for (kind,) in self._fetch(
                alias,
                f"WITH RECURSIVE k (kind) AS (SELECT MIN(kind) FROM {table} UNION ALL"
                f" SELECT (SELECT MIN(t.kind) FROM {table} t WHERE t.kind > k.kind) FROM k"
                " WHERE k.kind IS NOT NULL) SELECT kind FROM k WHERE kind IS NOT NULL",
                (),
            )
        ]

    def rollup_alias(self) -> str:
        return router.db_for_write(ActivityRollup)

    def forget_rollups(self, kind: str | None = None) -> None:
        alias = self.rollup_alias()
        with transaction.atomic(using=alias):
            rollups.invalidate(connections[alias], kind)

    def forget_user(self, user_pk: Any) -> None:
        alias = router.db_for_write(ActivityDay)
        spans = (
            ActivityDay.objects.using(alias)
            .filter(user_id=user_pk)
            .values_list("kind")
            .annotate(first=Min("day"), last=Max("day"))
        )
        for kind, first, last in spans:
            if first < first_open_day():
                rollups.invalidate(connections[alias], kind, first, last)

    def backfill_users(self) -> int:
        return self.user_model._base_manager.using(router.db_for_write(UserActivity)).count()

    def backfill(
        self,
        sources: Sequence[SourceSpec],
        since: datetime,
        kind: str,
        *,
        day_timezone: str,
        batch_size: int,
        dry_run: bool = False,
        progress: Any = None,
    ) -> dict[str, int]:
        totals = {"users": 0, "updated": 0, "days": 0}
        if not sources:
            return totals
        using = router.db_for_write(UserActivity)
        connection = connections[using]
        zone = ZoneInfo(day_timezone)
        users = self.user_model._base_manager.using(using).order_by("pk")
        lower: Any = None
        with staged(connection, sources, since, day_timezone) as stage:
            while True:
                # Keyset batches over user primary keys (any orderable key type): the
                # number of statements grows with users / batch_size, never with users.
                batch = users if lower is None else users.filter(pk__gt=lower)
                upper = batch.values_list("pk", flat=True)[batch_size - 1 : batch_size].first()
                bounds = {"gt": lower, "lte": upper}
                with transaction.atomic(using=using):
                    counts = backfill_batch(self, connection, stage, kind, bounds, dry_run)
                    if not dry_run:
                        # Ledger days from ``since`` on may be new: what was kept of them goes.
                        rollups.invalidate(connection, kind, timezone.localdate(since, zone))
                for name, value in counts.items():
                    totals[name] += value
                if progress is not None:
                    progress(upper, totals)
                if upper is None:
                    return totals
                lower = upper


def _sweep(
    deltas: Mapping[int, Any], start: date, end: date, *, cumulative: bool
) -> list[tuple[date, int]]:
    """Turn per-day counts (or +/- edges, when ``cumulative``) into one point per day."""
    first, last = epoch_day(start), epoch_day(end)
    running = sum(int(v) for n, v in deltas.items() if n < first) if cumulative else 0
    points = []
    for n in range(first, last + 1):
        value = int(deltas.get(n, 0))
        running = running + value if cumulative else value
        points.append((EPOCH + timedelta(days=n), running))
    return points
