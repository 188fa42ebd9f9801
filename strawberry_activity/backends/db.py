"""The default backend: the package's own tables through the Django ORM and plain SQL.

Writes are single guarded upserts (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), which
PostgreSQL and SQLite both speak, so a write is one statement whether or not the row exists,
and two workers racing on one user can neither deadlock nor move a timestamp backwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, OuterRef, Q, QuerySet, Subquery

from strawberry_activity.backends.backfill import backfill_batch, compiled
from strawberry_activity.backends.base import BaseBackend, SourceSpec, Stored
from strawberry_activity.models import DEFAULT_KIND, ActivityDay, UserActivity
from strawberry_activity.periods import numbered_period, period_end, period_number, period_start

__all__ = ["DatabaseBackend"]

_EPOCH = date(1970, 1, 1)


def _day_number(connection: BaseDatabaseWrapper, column: str) -> str:
    """SQL for a DATE column as days since 1970-01-01 (integer arithmetic is portable)."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _period_number(connection: BaseDatabaseWrapper, column: str, period: str) -> str:
    """SQL for ``periods.period_number`` of a DATE column: consecutive periods are
    consecutive integers."""
    days = _day_number(connection, column)
    if period == "day":
        return days
    if period == "week":
        return f"(({days} + 3) / 7)"  # from Monday 1969-12-29; days >= -3
    if connection.vendor == "postgresql":
        return (
            f"(CAST(EXTRACT(YEAR FROM {column}) AS INTEGER) * 12"
            f" + CAST(EXTRACT(MONTH FROM {column}) AS INTEGER) - 1)"
        )
    return (
        f"(CAST(strftime('%%Y', {column}) AS INTEGER) * 12"
        f" + CAST(strftime('%%m', {column}) AS INTEGER) - 1)"
    )


#: Periods a bit mask of one BIGINT holds (bit 63 would be the sign).
_MASK_BITS = 62


def _bit_or(connection: BaseDatabaseWrapper, bits: str) -> str:
    """SQL aggregating distinct powers of two (``bits``, NULLs skipped) into one mask."""
    if connection.vendor == "postgresql":
        return f"BIT_OR({bits})"
    # SQLite has no BIT_OR; over distinct powers of two, a sum is the same number.
    return f"SUM(DISTINCT {bits})"


def _bit(connection: BaseDatabaseWrapper, position: str) -> str:
    """SQL for the BIGINT ``1 << position``."""
    one = "CAST(1 AS BIGINT)" if connection.vendor == "postgresql" else "1"
    return f"({one} << ({position}))"


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

    def _user_existscompiled(self, connection: BaseDatabaseWrapper) -> str:
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
            f"SELECT %s, %s, %s WHERE {self._user_existscompiled(connection)} "
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
            f"SELECT %s, %s, %s WHERE {self._user_existscompiled(connection)} "
            f"ON CONFLICT ({qn('user_id')}, {qn('kind')}, {qn('day')}) DO NOTHING"
        )
        pk = self._pk(connection, user_pk)
        with connection.cursor() as cursor:
            cursor.execute(sql, (pk, kind, connection.ops.adapt_datefield_value(day), pk))

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
        first = start - timedelta(days=window_days - 1)
        rows = ActivityDay.objects.using(alias).filter(kind=kind, day__gte=first, day__lte=end)
        rows_sql, rows_params = compiled(
            self._restrict_to_users(rows, alias).values("user_id", "day"), alias
        )
        if window_days == 1:
            # A ledger row is already one user-day: DAU is a plain count per day, grouped
            # along the (kind, day, user) index.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT r.day, COUNT(*) FROM ({rows_sql}) r GROUP BY r.day", rows_params
                )
                counts = {(_as_date(day) - _EPOCH).days: n for day, n in cursor.fetchall()}
            return _sweep(counts, start, end, cumulative=False)
        # A user's coverage (the days whose window holds one of their rows) is a union of
        # runs: a run starts at a row with no row in the w days before it, and ends w days
        # after a row with none in the w days after it. +1 at each start and -1 at each end,
        # summed in day order, is the exact distinct count per sliding window. Only the
        # boundary rows leave the window functions, so the GROUP BY input stays small.
        w = int(window_days)
        d = _day_number(connection, "r.day")
        sql = (
            f"SELECT n, p IS NULL OR n > p + {w}, q IS NULL OR q > n + {w}, COUNT(*) FROM ("
            " SELECT n, LAG(n) OVER win AS p, LEAD(n) OVER win AS q"
            f" FROM (SELECT r.user_id, {d} AS n FROM ({rows_sql}) r) x"
            " WINDOW win AS (PARTITION BY user_id ORDER BY n)"
            f") b WHERE p IS NULL OR n > p + {w} OR q IS NULL OR q > n + {w}"
            " GROUP BY 1, 2, 3"
        )
        deltas: dict[int, int] = {}
        with connection.cursor() as cursor:
            cursor.execute(sql, rows_params)
            for n, starts, ends, count in cursor.fetchall():
                if starts:
                    deltas[n] = deltas.get(n, 0) + count
                if ends:
                    deltas[n + w] = deltas.get(n + w, 0) - count
        return _sweep(deltas, start, end, cumulative=True)

    # -- growth analytics (docs/analytics.md) ------------------------------------------------------
    #
    # A user's first period needs their earliest ledger row, so retention and lifecycle
    # read the kind's rows up to the range's last day, older ones included. Two shapes, one
    # statement each:
    #
    # * up to _MASK_BITS periods (any week or month range of MAX_DAYS = 366, and day ranges
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

    def retention_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[tuple[date, date], int]:
        alias = using or router.db_for_read(ActivityDay)
        connection = connections[alias]
        lo, hi = period_start(start, period), period_end(end, period)
        base = period_number(lo, period)
        last = period_number(hi, period) - base  # periods are 0 .. last
        rows_sql, rows_params = self._ledger_rows(kind, None, hi, alias)
        adapt = connection.ops.adapt_datefield_value

        def number(column: str) -> str:
            return f"({_period_number(connection, column, period)} - {base})"

        if last < _MASK_BITS:
            bit = _bit(connection, number("r.day"))
            sql = (
                "WITH RECURSIVE ks (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM ks"
                f" WHERE k < {last}),"
                f" u AS (SELECT MIN(r.day) AS first_day,"
                f" {_bit_or(connection, f'CASE WHEN r.day >= %s THEN {bit} END')} AS m"
                f" FROM ({rows_sql}) r GROUP BY r.user_id),"
                f" s AS (SELECT {number('u.first_day')} AS c, u.m AS m, COUNT(*) AS n"
                " FROM u WHERE u.first_day >= %s GROUP BY 1, 2)"
                " SELECT s.c, ks.k, SUM(s.n) FROM s JOIN ks ON ks.k >= s.c"
                " WHERE ((s.m >> ks.k) & 1) = 1 GROUP BY s.c, ks.k"
            )
            params = (adapt(lo), *rows_params, adapt(lo))
        else:
            sql = (
                f"SELECT {number('x.first_day')}, {number('x.day')}, COUNT(*) FROM ("
                " SELECT r.day AS day, FIRST_VALUE(r.day) OVER w AS first_day,"
                " LAG(r.day) OVER w AS prev"
                f" FROM ({rows_sql}) r WINDOW w AS (PARTITION BY r.user_id ORDER BY r.day)"
                ") x WHERE x.first_day >= %s AND (x.prev IS NULL"
                f" OR {number('x.prev')} <> {number('x.day')}) GROUP BY 1, 2"
            )
            params = (*rows_params, adapt(lo))
        counts: dict[tuple[date, date], int] = {}
        for c, k, n in self._fetch(alias, sql, params):
            key = (numbered_period(base + c, period), numbered_period(base + k, period))
            counts[key] = counts.get(key, 0) + int(n)
        return counts

    def lifecycle_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[date, tuple[int, int, int, int]]:
        alias = using or router.db_for_read(ActivityDay)
        connection = connections[alias]
        # Period 0 is the one before the range: returning and dormant look back at it.
        lo = period_start(period_start(start, period) - timedelta(days=1), period)
        hi = period_end(end, period)
        base = period_number(lo, period)
        last = period_number(hi, period) - base  # the range is 1 .. last
        rows_sql, rows_params = self._ledger_rows(kind, None, hi, alias)
        adapt = connection.ops.adapt_datefield_value

        def number(column: str) -> str:
            return f"({_period_number(connection, column, period)} - {base})"

        if last < _MASK_BITS:
            bit = _bit(connection, number("r.day"))

            def pair(offset: str) -> str:  # bits k - 1 (low) and k (high)
                return f"((s.m >> ({offset})) & 3)"

            below = f"(s.m & ({_bit(connection, 'ks.k - 1')} - 1))"  # bits under k - 1
            sql = (
                "WITH RECURSIVE ks (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks"
                f" WHERE k < {last}),"
                " u AS (SELECT CASE WHEN MIN(r.day) < %s THEN 1 ELSE 0 END AS earlier,"
                f" {_bit_or(connection, f'CASE WHEN r.day >= %s THEN {bit} END')} AS m"
                f" FROM ({rows_sql}) r GROUP BY r.user_id),"
                " s AS (SELECT u.earlier AS earlier, u.m AS m, COUNT(*) AS n FROM u"
                " WHERE u.m IS NOT NULL GROUP BY u.earlier, u.m)"
                " SELECT ks.k,"
                # new: active in k and in nothing before it (in the mask, nor earlier)
                f" SUM(CASE WHEN {pair('ks.k - 1')} = 2 AND s.earlier = 0 AND {below} = 0"
                " THEN s.n ELSE 0 END),"
                f" SUM(CASE WHEN {pair('ks.k - 1')} = 3 THEN s.n ELSE 0 END),"
                f" SUM(CASE WHEN {pair('ks.k - 1')} = 2 AND (s.earlier = 1 OR {below} <> 0)"
                " THEN s.n ELSE 0 END),"
                f" SUM(CASE WHEN {pair('ks.k - 1')} = 1 THEN s.n ELSE 0 END)"
                " FROM s CROSS JOIN ks GROUP BY ks.k"
            )
            params = (adapt(lo), adapt(lo), *rows_params)
            found = {
                int(k): (int(new), int(ret), int(res), int(dormant))
                for k, new, ret, res, dormant in self._fetch(alias, sql, params)
            }
        else:
            p, pp, np = number("x.day"), number("x.prev"), number("x.next")
            sql = (
                f"SELECT {p},"
                f" SUM(CASE WHEN x.prev IS NULL THEN 1 ELSE 0 END),"
                f" SUM(CASE WHEN {pp} = {p} - 1 THEN 1 ELSE 0 END),"
                f" SUM(CASE WHEN {pp} < {p} - 1 THEN 1 ELSE 0 END),"
                # the last row of a period with none in the next: dormant in the next
                f" SUM(CASE WHEN x.next IS NULL OR {np} > {p} + 1 THEN 1 ELSE 0 END) FROM ("
                " SELECT r.day AS day, LAG(r.day) OVER w AS prev, LEAD(r.day) OVER w AS next"
                f" FROM ({rows_sql}) r WINDOW w AS (PARTITION BY r.user_id ORDER BY r.day)"
                f") x WHERE x.day >= %s AND (x.prev IS NULL OR {pp} <> {p}"
                f" OR x.next IS NULL OR {np} <> {p}) GROUP BY 1"
            )
            rows = {
                int(k): (int(new), int(ret), int(res), int(leaving))
                for k, new, ret, res, leaving in self._fetch(alias, sql, (*rows_params, adapt(lo)))
            }
            found = {
                k: (*rows.get(k, (0, 0, 0, 0))[:3], rows.get(k - 1, (0, 0, 0, 0))[3])
                for k in range(1, last + 1)
            }
        return {numbered_period(base + k, period): counts for k, counts in found.items()}

    def active_day_counts(
        self, start: date, end: date, kind: str, using: str | None
    ) -> dict[int, int]:
        alias = using or router.db_for_read(ActivityDay)
        rows_sql, rows_params = self._ledger_rows(kind, start, end, alias)
        sql = (
            "SELECT x.n, COUNT(*) FROM (SELECT COUNT(*) AS n"
            f" FROM ({rows_sql}) r GROUP BY r.user_id) x GROUP BY x.n"
        )
        return {int(n): int(users) for n, users in self._fetch(alias, sql, rows_params)}

    # -- maintenance -------------------------------------------------------------------

    def prune(self, before: date, *, dry_run: bool = False) -> int:
        old = ActivityDay.objects.filter(day__lt=before)
        if dry_run:
            return old.count()
        deleted, _ = old.delete()
        return deleted

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
        users = self.user_model._base_manager.using(using).order_by("pk")
        lower: Any = None
        while True:
            # Keyset batches over user primary keys (any orderable key type): the number
            # of statements grows with users / batch_size, never with users.
            batch = users if lower is None else users.filter(pk__gt=lower)
            upper = batch.values_list("pk", flat=True)[batch_size - 1 : batch_size].first()
            bounds = {"gt": lower, "lte": upper}
            with transaction.atomic(using=using):
                counts = backfill_batch(
                    self, connection, sources, since, kind, day_timezone, bounds, dry_run
                )
            for name, value in counts.items():
                totals[name] += value
            if progress is not None:
                progress(upper, totals)
            if upper is None:
                return totals
            lower = upper


def _as_date(value: Any) -> date:
    # Raw cursors return DATE columns as date objects on PostgreSQL and text on SQLite.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _sweep(
    deltas: Mapping[int, Any], start: date, end: date, *, cumulative: bool
) -> list[tuple[date, int]]:
    """Turn per-day counts (or +/- edges, when ``cumulative``) into one point per day."""
    first, last = (start - _EPOCH).days, (end - _EPOCH).days
    running = sum(int(v) for n, v in deltas.items() if n < first) if cumulative else 0
    points = []
    for n in range(first, last + 1):
        value = int(deltas.get(n, 0))
        running = running + value if cumulative else value
        points.append((_EPOCH + timedelta(days=n), running))
    return points
