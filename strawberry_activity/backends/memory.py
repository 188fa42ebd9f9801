"""In-process storage: for tests and for projects that want no table.

Nothing survives a restart, and each process has its own data. Reads of users
(``total_users``, ``active_users``) still go to the user table.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.apps import apps
from django.db.models import QuerySet

from strawberry_activity.backends.base import BaseBackend, SourceSpec, Stored
from strawberry_activity.periods import period_end, period_start, period_starts

__all__ = ["MemoryBackend"]


class MemoryBackend(BaseBackend):
    """Keeps ``{(user_pk, kind): last}`` and ``{(user_pk, kind, day)}`` in memory.

    >>> STRAWBERRY_ACTIVITY = {"BACKEND": "strawberry_activity.backends.memory.MemoryBackend"}
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self.last: dict[tuple[Any, str], datetime] = {}
        self.days: set[tuple[Any, str, date]] = set()
        self.writes = 0

    def clear(self) -> None:
        with self._lock:
            self.last.clear()
            self.days.clear()
            self.writes = 0

    def write(
        self, user_pk: Any, kind: str, ts: datetime, *, older_than: datetime, day: date | None
    ) -> Stored:
        with self._lock:
            stored = self.last.get((user_pk, kind))
            written = stored is None or stored < older_than
            if written:
                self.last[(user_pk, kind)] = stored = ts
                self.writes += 1
            if day is not None:
                self.days.add((user_pk, kind, day))
            return Stored(written, stored)

    def add_day(self, user_pk: Any, kind: str, day: date) -> None:
        with self._lock:
            self.days.add((user_pk, kind, day))

    def last_activity(self, user_pk: Any, kind: str) -> datetime | None:
        return self.last.get((user_pk, kind))

    def _pks(self, since: datetime, kind: str) -> list[Any]:
        with self._lock:
            return [pk for (pk, k), ts in self.last.items() if k == kind and ts >= since]

    def stored_kinds(self, using: str | None) -> set[str]:
        with self._lock:
            return {kind for _, kind in self.last}

    def active_users(self, since: datetime, kind: str, using: str | None) -> QuerySet[Any]:
        return self.users(using).filter(pk__in=self._pks(since, kind))

    def counts(
        self, windows: Mapping[str, datetime], kind: str, using: str | None
    ) -> dict[str, int]:
        existing = set(self.users(using).values_list("pk", flat=True))
        result = {"total_users": len(existing)}
        for name, since in windows.items():
            result[name] = len(existing.intersection(self._pks(since, kind)))
        return result

    def daily_counts(
        self, window_days: int, start: date, end: date, kind: str, using: str | None
    ) -> list[tuple[date, int]]:
        with self._lock:
            rows = [(pk, day) for pk, k, day in self.days if k == kind]
        points = []
        day = start
        while day <= end:
            first = day - timedelta(days=window_days - 1)
            points.append((day, len({pk for pk, d in rows if first <= d <= day})))
            day += timedelta(days=1)
        return points

    def _ledger(self, kind: str) -> dict[Any, set[date]]:
        """``{user: {days}}`` of one kind."""
        with self._lock:
            rows = [(pk, day) for pk, k, day in self.days if k == kind]
        days: dict[Any, set[date]] = {}
        for pk, day in rows:
            days.setdefault(pk, set()).add(day)
        return days

    def retention_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[tuple[date, date], int]:
        first, last = period_start(start, period), period_end(end, period)
        counts: dict[tuple[date, date], int] = {}
        for days in self._ledger(kind).values():
            cohort = period_start(min(days), period)
            if not first <= cohort <= last:
                continue
            for active in {period_start(day, period) for day in days if day <= last}:
                counts[(cohort, active)] = counts.get((cohort, active), 0) + 1
        return counts

    def lifecycle_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[date, tuple[int, int, int, int]]:
        counts: dict[date, tuple[int, int, int, int]] = {}
        ledger = self._ledger(kind)
        for current in period_starts(start, end, period):
            before = period_start(current - timedelta(days=1), period)
            new = returning = resurrecting = dormant = 0
            for days in ledger.values():
                periods = {period_start(day, period) for day in days}
                if current in periods:
                    if before in periods:
                        returning += 1
                    elif min(periods) == current:
                        new += 1
                    else:
                        resurrecting += 1
                elif before in periods:
                    dormant += 1
            counts[current] = (new, returning, resurrecting, dormant)
        return counts

    def active_day_counts(
        self, start: date, end: date, kind: str, using: str | None
    ) -> dict[int, int]:
        counts: dict[int, int] = {}
        for days in self._ledger(kind).values():
            n = sum(1 for day in days if start <= day <= end)
            if n:
                counts[n] = counts.get(n, 0) + 1
        return counts

    def prune(
        self, before: date, *, dry_run: bool = False, batch_size: int = 10_000, progress: Any = None
    ) -> int:
        with self._lock:
            old = {row for row in self.days if row[2] < before}
            if not dry_run:
                self.days -= old
        return len(old)

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
        zone = ZoneInfo(day_timezone)
        latest: dict[Any, datetime] = {}
        days: set[tuple[Any, str, date]] = set()
        for source in sources:
            model = apps.get_model(source["model"])
            user_attr = model._meta.get_field(source["user_field"]).attname
            rows = model._default_manager.filter(
                **{f"{source['timestamp_field']}__gte": since}
            ).values_list(user_attr, source["timestamp_field"])
            for pk, ts in rows.iterator():
                if pk is None:
                    continue
                latest[pk] = max(latest.get(pk, ts), ts)
                days.add((pk, kind, ts.astimezone(zone).date()))
        with self._lock:
            updated = [
                pk
                for pk, ts in latest.items()
                if (stored := self.last.get((pk, kind))) is None or stored < ts
            ]
            new_days = days - self.days
            if not dry_run:
                for pk in updated:
                    self.last[(pk, kind)] = latest[pk]
                self.days |= new_days
        return {"users": len(latest), "updated": len(updated), "days": len(new_days)}
