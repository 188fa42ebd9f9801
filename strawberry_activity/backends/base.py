"""The storage contract every backend fulfils.

A backend only says *how* activity is stored and counted. *When* to write (the cooldown,
who counts, failure isolation) lives in ``strawberry_activity.tracking``; *what* the numbers
mean (windows, percentages) lives in ``strawberry_activity.metrics``. The backend is picked
by ``STRAWBERRY_ACTIVITY["BACKEND"]``, a dotted path to a subclass of ``BaseBackend``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

__all__ = ["BaseBackend", "SourceSpec", "Stored"]

SourceSpec = Mapping[str, str]
"""One entry of ``ACTIVITY_SOURCES``: ``{"model", "user_field", "timestamp_field"}``."""


class Stored(NamedTuple):
    """What a write left behind: whether ``ts`` was stored, and the stored last activity
    after the statement (the newer one that refused it, or None for a user who does not
    exist)."""

    written: bool
    at: datetime | None


class BaseBackend(abc.ABC):
    """Stores, per user and kind, the last activity time and the calendar days of activity.

    ``user_field`` names a ``DateTimeField`` on the user model that holds the default kind's
    last activity instead of the backend's own storage (``USER_FIELD``); backends that
    cannot honour it say so in ``supports_user_field``. ``timeout`` bounds how long a
    write may wait on the database (``DB_TIMEOUT``); a write that runs out of it fails.
    """

    supports_user_field = False

    def __init__(self, *, user_field: str | None = None, timeout: float | None = None) -> None:
        self.user_field = user_field
        #: Seconds a tracking statement may wait for a lock or run (``DB_TIMEOUT``), or
        #: None for the database's own limits.
        self.timeout = timeout

    @property
    def user_model(self) -> type[Model]:
        return get_user_model()

    def users(self, using: str | None = None) -> QuerySet[Any]:
        """Every user that counts towards ``total_users``: the default manager's."""
        qs = self.user_model._default_manager.all()
        return qs.using(using) if using else qs

    # -- writing -----------------------------------------------------------------------

    def transaction_alias(self, kind: str) -> str | None:
        """The database alias whose transaction a write of ``kind`` joins, or None when
        writes are not transactional. The cooldown remembers a write once it commits."""
        return None

    @abc.abstractmethod
    def write(
        self, user_pk: Any, kind: str, ts: datetime, *, older_than: datetime, day: date | None
    ) -> Stored:
        """Store ``ts`` as the last activity unless the stored one is ``>= older_than``.

        This is the database guard of the cooldown and what keeps timestamps monotonic:
        ``older_than`` is ``ts - COOLDOWN`` normally and ``ts`` when forced. When ``day``
        is given, also record ``(user, kind, day)`` in the ledger (a no-op if present).
        ``db`` ignores users that do not exist (``memory`` keeps whatever it is given).
        When the guard refuses ``ts``, the stored time is read in the same isolated unit
        (inside the caller's transaction, a savepoint).
        """

    @abc.abstractmethod
    def add_day(self, user_pk: Any, kind: str, day: date) -> None:
        """Record ``(user, kind, day)`` in the ledger only (a no-op if present): for the
        first activity of a day that comes within the cooldown of the day before."""

    @abc.abstractmethod
    def last_activity(self, user_pk: Any, kind: str) -> datetime | None:
        """The stored last activity of one user, or None."""

    # -- reading -----------------------------------------------------------------------

    def stored_activity(self, kind: str) -> Any:
        """An ORM expression for each user's stored last activity of ``kind``, to annotate
        the user table with (set-based comparisons such as ``sources.stale_users``), or
        None when this backend keeps it outside the database."""
        return None

    @abc.abstractmethod
    def stored_kinds(self, using: str | None) -> set[str]:
        """Every kind that has a stored last activity."""

    @abc.abstractmethod
    def active_users(self, since: datetime, kind: str, using: str | None) -> QuerySet[Any]:
        """Users (default manager) whose last activity of ``kind`` is ``>= since``."""

    @abc.abstractmethod
    def counts(
        self, windows: Mapping[str, datetime], kind: str, using: str | None
    ) -> dict[str, int]:
        """In one query: for each ``name -> since``, the users active since then, plus
        ``total_users``."""

    @abc.abstractmethod
    def daily_counts(
        self, window_days: int, start: date, end: date, kind: str, using: str | None
    ) -> list[tuple[date, int]]:
        """For each calendar day ``d`` in ``start..end``, in one query: the distinct users
        with a ledger row of ``kind`` in ``d - window_days + 1 .. d``."""

    # Growth analytics (docs/analytics.md). ``period`` is "day", "week" or "month" (see
    # ``strawberry_activity.periods``); a user's first period holds their earliest ledger
    # row of ``kind``, over the whole ledger. Each is one query, whatever the range.

    @abc.abstractmethod
    def retention_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[tuple[date, date], int]:
        """``{(cohort, active): users}``: among the users whose first period is ``cohort``
        (a period from the one holding ``start`` to the one holding ``end``), how many have
        a ledger row in the period ``active`` (from ``cohort`` to the one holding ``end``).
        Periods by their first day; zero counts may be left out."""

    @abc.abstractmethod
    def lifecycle_counts(
        self, period: str, start: date, end: date, kind: str, using: str | None
    ) -> dict[date, tuple[int, int, int, int]]:
        """``{period: (new, returning, resurrecting, dormant)}`` for each period from the
        one holding ``start`` to the one holding ``end``, each against the period before
        (definitions: docs/analytics.md); periods with no such user may be left out."""

    @abc.abstractmethod
    def active_day_counts(
        self, start: date, end: date, kind: str, using: str | None
    ) -> dict[int, int]:
        """``{n: users}``: how many users have exactly ``n`` ledger rows of ``kind`` in
        ``start..end`` (``n >= 1``; zero counts may be left out)."""

    # -- maintenance -------------------------------------------------------------------

    @abc.abstractmethod
    def prune(
        self, before: date, *, dry_run: bool = False, batch_size: int = 10_000, progress: Any = None
    ) -> int:
        """Delete ledger rows older than ``before``; return how many (would be) deleted.

        In batches of at most ``batch_size`` rows, each its own transaction (no long
        locks), calling ``progress(kind, day, deleted so far)`` after each."""

    def rollup_alias(self) -> str | None:
        """The database alias this backend keeps rollups on (docs/scale.md), or None when
        it keeps none: ``activity_rollup`` reads there, so that what it counts is kept."""
        return None

    def forget_rollups(self, kind: str | None = None) -> None:  # noqa: B027 (none by default)
        """Delete every rollup of ``kind`` (None: of every kind): after a change to the
        ledger made behind the backend's back (raw SQL, a dropped partition)."""

    def forget_user(self, user_pk: Any) -> None:  # noqa: B027 (a hook, empty by default)
        """The user is about to be deleted, and their ledger rows with them: forget what
        was kept of the days they were active (rollups). Nothing to do by default."""

    def backfill_users(self) -> int:
        """How many users ``backfill`` walks (the total of its progress)."""
        return self.user_model._base_manager.count()

    @abc.abstractmethod
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
        """Raise each user's last activity to their latest source row since ``since``
        (never lowering it), and add one ledger row per user-day found. Set-based: the
        number of statements depends on the batches, not on the users. Returns counts
        ``{"users": ..., "updated": ..., "days": ...}``."""
