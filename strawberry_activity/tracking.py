"""``touch_last_activity``: the one way activity is written.

Everything that records activity (the schema extension, the login / logout signals, your
own code) goes through here, so the cooldown, the exclusions and the failure policy hold
everywhere::

    from strawberry_activity import touch_last_activity

    touch_last_activity(request.user)                      # now, behind the cooldown
    touch_last_activity(user, kind="transaction")          # also counts as "transaction"
    touch_last_activity(user, ts=event_time, force=True)   # bypass the cooldown

A write is two cheap checks and, at most once per user and kind per ``COOLDOWN``, one
guarded upsert. Infrastructure failures (database, cache) are logged on the
``strawberry_activity`` logger and swallowed: the caller's request goes on. Wrong arguments
(a naive or far-future ``ts``, a bad ``kind``) raise ``TypeError`` / ``ValueError``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asgiref.sync import iscoroutinefunction, sync_to_async
from cachetools import LRUCache
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from strawberry.utils.str_converters import to_camel_case

from strawberry_activity import counters
from strawberry_activity.backends import BaseBackend, get_backend
from strawberry_activity.breaker import CircuitBreaker
from strawberry_activity.conf import PerProcess, activity_settings
from strawberry_activity.cooldown import Cooldown, bounded_cache
from strawberry_activity.kinds import DEFAULT_KIND, validate_kind

__all__ = [
    "Tracker",
    "atouch_last_activity",
    "report_failure",
    "reset",
    "touch_last_activity",
    "tracker",
]

logger = logging.getLogger("strawberry_activity")

# -- failure reporting -------------------------------------------------------------------

#: Seconds between two warnings about the same kind of failure.
WARNING_INTERVAL = 60.0
_failures: dict[tuple[str, str], list[float]] = {}  # key -> [last warning, suppressed]
_failures_lock = threading.Lock()


def report_failure(where: str, exc: BaseException) -> None:
    """Log a tracking failure at WARNING, at most once per ``WARNING_INTERVAL`` per cause.

    During an outage every request fails the same way; one line a minute (with the count
    of the ones left out) says as much as a thousand.
    """
    counters.count_failure(where, exc)
    key = (where, type(exc).__name__)
    now = time.monotonic()
    with _failures_lock:
        state = _failures.get(key)
        if state is not None and now - state[0] < WARNING_INTERVAL:
            state[1] += 1
            return
        suppressed = int(state[1]) if state is not None else 0
        _failures[key] = [now, 0]
    logger.warning(
        "strawberry-activity could not %s (%s: %s); the request goes on unchanged.%s",
        where,
        type(exc).__name__,
        exc,
        f" {suppressed} more such failures in the last interval." if suppressed else "",
        exc_info=exc,
    )


def _quietly(step: Callable[[], None]) -> None:
    """A cache step after the database's work: its failure is reported, never raised."""
    try:
        step()
    except Exception as exc:
        report_failure("reach the cooldown cache", exc)


# -- the tracker -------------------------------------------------------------------------

#: Database failures in a row after which writes are skipped, and for how many seconds.
DATABASE_BREAKER_FAILURES = 3
DATABASE_BREAKER_RETRY_AFTER = 5.0


class DatabaseUnavailable(Exception):
    """Writes are skipped while the database breaker is open (after failures in a row)."""


class Tracker:
    """Per-process tracking state built from settings: backend, cooldown, policies."""

    def __init__(self) -> None:
        s = activity_settings
        self.cooldown_seconds = float(s.COOLDOWN)
        shared = bounded_cache(s.CACHE_ALIAS) if s.CACHE_ALIAS else None
        # A table locked by a migration times every write out (DB_TIMEOUT): after a few in
        # a row, writes are skipped for a while (the users are written on a later request)
        # rather than each cold request paying the timeout.
        self.database = CircuitBreaker(
            failures=DATABASE_BREAKER_FAILURES,
            retry_after=DATABASE_BREAKER_RETRY_AFTER,
            error=DatabaseUnavailable,
            meanwhile="activity is written on a later request",
            wrap=False,
        )
        self.zone = ZoneInfo(s.DAY_TIMEZONE)
        self.cooldown = Cooldown(self.cooldown_seconds, int(s.COOLDOWN_MAXSIZE), shared, self.zone)
        self.operations: frozenset[str] = s.TRACK_OPERATIONS
        self.track_failed = bool(s.TRACK_FAILED)
        self.exclude: Callable[[Any], bool] | None = s.EXCLUDE
        self.get_user: Callable[[Any], Any] | None = s.GET_USER
        self.get_user_is_async = iscoroutinefunction(s.GET_USER)
        # By the GraphQL name (what a document holds) whether written so or in Python.
        self.mutation_kinds: dict[str, str] = {
            **{to_camel_case(name): kind for name, kind in s.MUTATION_KINDS.items()},
            **s.MUTATION_KINDS,
        }
        self.max_skew = timedelta(seconds=float(s.MAX_CLOCK_SKEW))
        # Per (user, kind): the ledger day and stored time this process last wrote or read.
        # One ledger statement per user-day; no timestamp write for a window cut at midnight.
        self._days: LRUCache[tuple[Any, str], tuple[date, float]] = LRUCache(
            maxsize=int(s.COOLDOWN_MAXSIZE)
        )
        self._days_lock = threading.Lock()

    @property
    def backend(self) -> BaseBackend:
        """The configured backend (never a copy of its own that could drift)."""
        return get_backend()

    # The hot path ------------------------------------------------------------------------

    def pending(self, user_pk: Any, kinds: Iterable[str]) -> list[str]:
        """The kinds whose cooldown has ended for this user. No I/O."""
        active = self.cooldown.active
        return [kind for kind in kinds if not active((user_pk, kind))]

    def excluded(self, user: Any) -> bool:
        return self.exclude is not None and bool(self.exclude(user))

    # The write path ----------------------------------------------------------------------

    def write(self, user_pk: Any, kind: str, ts: datetime, *, force: bool) -> bool:
        """Begin under the cooldown, store, then commit or abort the claim. Never raises.

        The claim is committed once the write commits: at once in autocommit, on commit
        inside ``atomic()`` / ``ATOMIC_REQUESTS``, and never under manual transaction
        management, where nobody tells when (or whether) the write commits: nothing is
        remembered there, and the database guard alone holds the cooldown.
        """
        alias = self.backend.transaction_alias(kind)
        connection = transaction.get_connection(alias) if alias is not None else None
        in_atomic = connection is not None and connection.in_atomic_block
        manual = connection is not None and not in_atomic and not connection.get_autocommit()
        claim = self.cooldown.begin(user_pk, kind, ts, force=force, look_only=in_atomic or manual)
        if claim is None:
            counters.count_cooldown_hit("shared")
            return False
        if claim.gate_error is not None:
            # The cache is down: the database guard still holds the cooldown.
            report_failure("reach the cooldown cache", claim.gate_error)
        try:
            written, stored_at = self._store(user_pk, kind, ts, claim.day, force=force)
        except Exception as exc:
            _quietly(claim.abort)
            report_failure("record activity", exc)
            return False

        def committed() -> None:
            written_at = stored_at if stored_at is not None else time.time()
            with self._days_lock:
                self._days[(user_pk, kind)] = (claim.day, written_at)
            _quietly(lambda: claim.commit(written, stored_at))

        if in_atomic:
            transaction.on_commit(committed, using=alias)
        elif not manual:
            committed()
        return written

    def _store(
        self, user_pk: Any, kind: str, ts: datetime, day: date, *, force: bool
    ) -> tuple[bool, float | None]:
        """The guarded write behind the database breaker: whether ``ts`` was written, and
        the stored time after it as a wall-clock float (None: nothing stored). Raises."""
        with self._days_lock:
            seen = self._days.get((user_pk, kind))
        new_day = seen is None or seen[0] != day
        if (
            new_day
            and not force
            and seen is not None
            and 0 <= ts.timestamp() - seen[1] < self.cooldown_seconds
        ):
            # The window was cut at midnight, but the stored time this process last wrote
            # or read is less than COOLDOWN old: only the new day's ledger row is missing.
            self.database.call(lambda: self.backend.add_day(user_pk, kind, day))
            return False, seen[1]
        older_than = ts if force else ts - timedelta(seconds=self.cooldown_seconds)
        written, stored = self.database.call(
            lambda: self.backend.write(
                user_pk, kind, ts, older_than=older_than, day=day if new_day else None
            )
        )
        counters.count_write(kind, written)
        return written, stored.timestamp() if stored is not None else None

    def touch(self, user: Any, user_pk: Any, kinds: list[str], ts: datetime, force: bool) -> bool:
        """Write the given kinds for an authenticated user; the common end of every path."""
        if not force:
            kinds = self.pending(user_pk, kinds)
            if not kinds:
                return False
        if self.excluded(user):
            return False
        wrote = False
        for kind in kinds:
            wrote = self.write(user_pk, kind, ts, force=force) or wrote
        return wrote


_tracker = PerProcess(lambda: Tracker())

#: The process-wide tracker, built from settings on first use (and again after they change).
tracker = _tracker.get


def reset() -> None:
    """Forget the tracker (cooldown, breakers) and the warning throttles: the next use
    rebuilds it from settings."""
    _tracker.reset()
    with _failures_lock:
        _failures.clear()


# -- arguments ---------------------------------------------------------------------------


def user_pk(user: Any) -> Any:
    """The user's primary key, or None for None, anonymous and unsaved users.

    Anything that is not a user at all (no ``is_authenticated``) is a programming error:
    ``TypeError``, rather than activity silently never recorded.
    """
    if user is None:
        return None
    try:
        authenticated = user.is_authenticated
    except AttributeError:
        raise TypeError(
            f"user must be a user object (with is_authenticated) or None, not {type(user).__name__}"
        ) from None
    if not authenticated:
        return None
    return getattr(user, "pk", None)


def _kinds(kind: str | None) -> list[str]:
    kind = validate_kind(kind)
    # Every kind is also activity of the default kind: a transaction is an action.
    return [DEFAULT_KIND] if kind == DEFAULT_KIND else [DEFAULT_KIND, kind]


def _timestamp(ts: datetime | None, max_skew: timedelta) -> datetime:
    now = timezone.now()
    if ts is None:
        return now
    if not isinstance(ts, datetime):
        raise TypeError(f"ts must be a datetime, not {type(ts).__name__}")
    if settings.USE_TZ and timezone.is_naive(ts):
        raise ValueError("ts must be timezone-aware (USE_TZ is on): use django.utils.timezone")
    if ts - now > max_skew:
        raise ValueError(
            f"ts {ts.isoformat()} is in the future (more than MAX_CLOCK_SKEW ahead of now)"
        )
    return ts


def _prepare(user: Any, ts: datetime | None, kind: str | None) -> tuple[Any, list[str], datetime]:
    t = tracker()
    return user_pk(user), _kinds(kind), _timestamp(ts, t.max_skew)


def touch_last_activity(
    user: Any, *, ts: datetime | None = None, force: bool = False, kind: str | None = None
) -> bool:
    """Record that ``user`` was active at ``ts`` (default: now). True when a write happened.

    At most one write per user and kind per ``COOLDOWN`` seconds unless ``force=True``;
    stored times never move backwards. ``kind="transaction"`` records that kind *and* the
    default one. None, anonymous and unsaved users are ignored (False).

    >>> touch_last_activity(request.user)
    True
    """
    pk, kinds, when = _prepare(user, ts, kind)
    if pk is None:
        return False
    return tracker().touch(user, pk, kinds, when, force)


async def atouch_last_activity(
    user: Any, *, ts: datetime | None = None, force: bool = False, kind: str | None = None
) -> bool:
    """``touch_last_activity`` for async code: the cooldown check runs in the event loop,
    the write (when there is one) in Django's sync thread, as the async ORM does.

    >>> await atouch_last_activity(await request.auser())
    """
    pk, kinds, when = _prepare(user, ts, kind)
    if pk is None:
        return False
    t = tracker()
    if not force and not t.pending(pk, kinds):
        return False
    return await sync_to_async(t.touch)(user, pk, kinds, when, force)


def track_quietly(user: Any, kind: str | None = None) -> None:
    """Touch ``user`` now and swallow everything: for signal receivers and the extension."""
    try:
        touch_last_activity(user, kind=kind)
    except Exception as exc:
        report_failure("record activity", exc)
