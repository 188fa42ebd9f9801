"""The cooldown: at most one write per user and kind per ``COOLDOWN`` seconds.

Two tiers in front of the database guard, like Django's ``cached_db`` sessions sit on a
cache and a table:

1. ``local``: a bounded in-process map of window ends (monotonic times), oldest write
   first. Checking it is the hot path: one dict lookup and one clock read, no I/O, no lock.
2. ``shared``: an optional Django cache (Redis in production) used as an atomic gate with
   ``cache.add``, so N worker processes write a user once per window, not N times.

An entry enters the local tier only once its write has committed (see ``tracking``), so a
rolled-back transaction never leaves a user unrecorded for a whole window.

The shared tier is never in the way (docs/reliability.md):

- ``bounded_cache`` gives the gate its own instance of the ``CACHE_ALIAS`` cache whose
  every Redis call gives up after ``CACHE_TIMEOUT`` seconds (connect and read), with no
  retry, whatever the project's ``CACHES`` say (Django's ``RedisCache`` and django-redis).
- A circuit breaker: after ``BREAKER_FAILURES`` failures in a row the gate is skipped for
  ``BREAKER_RETRY_AFTER`` seconds (the database guard holds the cooldown meanwhile), then
  one call probes it (half-open): success closes the breaker, failure opens it again.

Every failure of the gate, and every call skipped while the breaker is open, raises
``CacheUnavailable`` (one exception type: one rate-limited warning per minute, see
``tracking.report_failure``); skipping costs no I/O.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.utils import timezone
from django.utils.module_loading import import_string

from strawberry_activity.breaker import CircuitBreaker
from strawberry_activity.conf import activity_settings

__all__ = [
    "BREAKER_FAILURES",
    "BREAKER_RETRY_AFTER",
    "CacheUnavailable",
    "Claim",
    "Cooldown",
    "bounded_cache",
]

_KEY_PREFIX = "strawberry_activity"

#: Failures in a row (errors or timeouts) after which the gate is skipped.
BREAKER_FAILURES = 3
#: Seconds the gate is skipped before one call probes it again.
BREAKER_RETRY_AFTER = 10.0

_T = TypeVar("_T")


class CacheUnavailable(Exception):
    """The shared gate failed, or is skipped while the circuit breaker is open."""


# -- a bounded instance of the shared cache ---------------------------------------------------

_bounded: dict[str, tuple[dict[str, Any], float, BaseCache]] = {}
_bounded_lock = threading.Lock()


def bounded_cache(alias: str) -> BaseCache:
    """The cache ``alias`` for the cooldown gate, every call bounded by ``CACHE_TIMEOUT``.

    For Redis (Django's ``RedisCache`` or django-redis) a dedicated instance built from the
    alias's configuration, with the same keys, prefix and version, and its own connection
    pool whose sockets time out after ``CACHE_TIMEOUT`` seconds to connect and to read,
    with no retry (redis-py >= 6 retries 3 times by default; < 6 waits forever by
    default). In-process caches (local memory, dummy) need no bound: ``caches[alias]``
    itself. Other backends are used as configured (a system check warns).
    """
    config: dict[str, Any] = settings.CACHES[alias]
    timeout = float(activity_settings.CACHE_TIMEOUT)
    with _bounded_lock:
        known = _bounded.get(alias)
        if known is not None and known[0] == config and known[1] == timeout:
            return known[2]
    params: dict[str, Any] = dict(config)
    backend = import_string(params.pop("BACKEND"))
    location = params.pop("LOCATION", "")
    kind = redis_kind(backend)
    if kind is None:
        return caches[alias]
    options: dict[str, Any] = dict(params.get("OPTIONS") or {})
    params["OPTIONS"] = (
        _django_options(options, timeout)
        if kind == "django"
        else _django_redis_options(options, timeout)
    )
    # Both backends accept a list of servers, or one string separated by "," or ";".
    servers = re.split("[;,]", location) if isinstance(location, str) else list(location)
    urls = [_bounded_url(server.strip(), timeout) for server in servers if server.strip()]
    cache: BaseCache = backend(urls, params)
    with _bounded_lock:
        _bounded[alias] = (config, timeout, cache)
    return cache


def redis_kind(backend: type) -> str | None:
    """``"django"`` for Django's ``RedisCache``, ``"django_redis"`` for django-redis's,
    None for anything else."""
    from django.core.cache.backends.redis import RedisCache

    if issubclass(backend, RedisCache):
        return "django"
    if backend.__module__.split(".")[0] == "django_redis":
        return "django_redis"
    return None


def _no_retry() -> Any:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


def _blocking(pool_class: Any) -> bool:
    """Whether a ``pool_class`` option waits for a free connection (then: at most ``timeout``)."""
    from redis import BlockingConnectionPool

    if isinstance(pool_class, str):
        pool_class = import_string(pool_class)
    return isinstance(pool_class, type) and issubclass(pool_class, BlockingConnectionPool)


def _connection_kwargs(kwargs: dict[str, Any], timeout: float) -> dict[str, Any]:
    kwargs = {k: v for k, v in kwargs.items() if k != "retry_on_error"}
    kwargs.update(
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        retry=_no_retry(),
    )
    return kwargs


def _django_options(options: dict[str, Any], timeout: float) -> dict[str, Any]:
    # Django's RedisCache passes OPTIONS to ``pool_class.from_url(url, **options)``.
    options = _connection_kwargs(options, timeout)
    if options.get("pool_class") is not None and _blocking(options["pool_class"]):
        options["timeout"] = timeout
    return options


def _django_redis_options(options: dict[str, Any], timeout: float) -> dict[str, Any]:
    # django-redis: SOCKET_* for the connection, CONNECTION_POOL_KWARGS for the pool
    # (applied last), and exceptions must reach the breaker rather than be swallowed.
    pool = _connection_kwargs(dict(options.get("CONNECTION_POOL_KWARGS") or {}), timeout)
    if options.get("CONNECTION_POOL_CLASS") is not None and _blocking(
        options["CONNECTION_POOL_CLASS"]
    ):
        pool["timeout"] = timeout
    return {
        **options,
        "SOCKET_TIMEOUT": timeout,
        "SOCKET_CONNECT_TIMEOUT": timeout,
        "IGNORE_EXCEPTIONS": False,
        "CONNECTION_POOL_KWARGS": pool,
    }


def _bounded_url(url: str, timeout: float) -> str:
    """The URL with our timeouts in its query: redis-py lets a URL's query override the
    keyword arguments, and django-redis shares one pool per URL between every cache that
    names it, so the gate's URL must differ from the project's own."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("socket_timeout", "socket_connect_timeout", "retry_on_timeout")
    ]
    query += [("socket_timeout", repr(timeout)), ("socket_connect_timeout", repr(timeout))]
    return urlunsplit(parts._replace(query=urlencode(query)))


class Cooldown:
    """The two cooldown tiers for one process.

    >>> cooldown = Cooldown(seconds=300, maxsize=100_000)
    >>> cooldown.active((42, "default"))
    False
    >>> cooldown.remember((42, "default"), written_at=time.time())
    >>> cooldown.active((42, "default"))
    True
    """

    def __init__(
        self,
        seconds: float,
        maxsize: int,
        shared: BaseCache | None = None,
        zone: tzinfo = dt_timezone.utc,
    ) -> None:
        self.seconds = float(seconds)
        #: The time zone of calendar days: no window outlives its day (see ``begin``).
        self.zone = zone
        self.shared = shared
        self.maxsize = maxsize
        self._breaker = CircuitBreaker(
            failures=BREAKER_FAILURES,
            retry_after=BREAKER_RETRY_AFTER,
            error=CacheUnavailable,
            meanwhile="the database guard holds the cooldown",
        )
        # key -> monotonic time its window ends, in write order. A plain OrderedDict, not
        # cachetools.TLRUCache: its Python-level ``__contains__`` cost ~1 us per check,
        # most of the hot path; ``OrderedDict.get`` is C and ~30 ns.
        self._local: OrderedDict[Hashable, float] = OrderedDict()
        self._timer = time.monotonic
        # Writes take the lock. Reads in ``active`` take none: one C-level dict lookup and
        # one float comparison are atomic under the GIL.
        self._lock = threading.Lock()

    def active(self, key: Hashable) -> bool:
        """Tier 1, the hot path: True while ``key`` is in its window. Touches no I/O."""
        ends = self._local.get(key)
        return ends is not None and self._timer() < ends

    def _remaining(self, written_at: float, until: float | None) -> float:
        end = written_at + self.seconds
        if until is not None and until < end:
            end = until
        return end - time.time()

    def remember(self, key: Hashable, written_at: float, until: float | None = None) -> None:
        """Start (or shorten) ``key``'s window: it ends ``seconds`` after ``written_at``
        (a wall-clock time, such as the timestamp just stored), or at ``until`` if sooner."""
        remaining = self._remaining(written_at, until)
        if remaining <= 0:
            return
        local = self._local
        with self._lock:
            now = self._timer()
            local[key] = now + remaining
            local.move_to_end(key)
            # Windows have (nearly) one length, so write order is (nearly) end order: drop
            # ended windows from the front, then the oldest writes beyond ``maxsize``.
            while local:
                first, ends = next(iter(local.items()))
                if ends > now and len(local) <= self.maxsize:
                    break
                del local[first]

    def forget(self, key: Hashable | None = None) -> None:
        """Drop one key's window, or every window and the circuit breaker's state: as a
        fresh worker process would start (tests, settings changes)."""
        with self._lock:
            if key is None:
                self._local.clear()
            else:
                self._local.pop(key, None)
        if key is None:
            self._breaker.reset()

    # -- the protocol of a write ----------------------------------------------------------

    def begin(
        self, user_pk: Any, kind: str, ts: datetime, *, force: bool, look_only: bool
    ) -> Claim | None:
        """Open a write of ``kind`` for a user at ``ts``: None when another process already
        wrote in this window (remembered here too), else the ``Claim`` to write under.

        ``look_only`` (inside a transaction) peeks at the gate instead of claiming it: a
        claim could not be given back if the transaction rolled back, and would hide the
        user for a whole window. ``force`` skips the gate. A failing gate is no reason not
        to write (the database guard holds the cooldown): the claim carries the error.
        """
        day = timezone.localdate(ts, self.zone)
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.zone)
        claim = Claim(self, (user_pk, kind), day, ts.timestamp(), midnight.timestamp())
        if self.shared is None or force:
            return claim
        gate = claim.gate
        try:
            if look_only:
                holder = self.peek(gate)
            else:
                holder = self.claim(gate, now=claim.wall, until=claim.day_end)
                claim.claimed = holder is None
        except CacheUnavailable as exc:
            claim.gate_error = exc
            return claim
        if holder is not None:
            self.remember(claim.key, holder, until=claim.day_end)
            return None
        claim.shared = True
        return claim

    # -- tier 2 ------------------------------------------------------------------------

    @property
    def breaker(self) -> str:
        """The gate's circuit breaker: ``"closed"``, ``"open"`` or ``"half-open"``."""
        return self._breaker.state

    def _gate(self, call: Callable[[BaseCache], _T]) -> _T:
        """Run one gate operation through the circuit breaker. Raises ``CacheUnavailable``
        when the cache failed or is skipped (no I/O then)."""
        shared = self.shared
        assert shared is not None
        return self._breaker.call(lambda: call(shared))

    @staticmethod
    def shared_key(key: tuple[Any, ...]) -> str:
        """The cache key of a window, ``strawberry_activity:<kind>:<user pk>:<day>`` for the
        tracker's ``(user_pk, kind, day)``: a window never spans two calendar days, whatever
        the clocks of the workers and of the cache say."""
        user_pk, kind, *rest = key
        return ":".join([_KEY_PREFIX, str(kind), str(user_pk), *map(str, rest)])

    def claim(
        self, key: tuple[Any, ...], *, now: float, until: float | None = None
    ) -> float | None:
        """Tier 2: atomically claim the window (ending at ``until`` if sooner) in the
        shared cache.

        Returns None when this process may write, or the wall-clock time of the write
        that another process already made in this window.
        """
        name = self.shared_key(key)
        timeout = max(1.0, self._remaining(now, until))

        def claim(shared: BaseCache) -> Any:
            return None if shared.add(name, now, timeout=timeout) else shared.get(name)

        holder = self._gate(claim)
        # Expired between add and get: nobody holds the window any more.
        return float(holder) if holder is not None else None

    def peek(self, key: tuple[Any, ...]) -> float | None:
        """Tier 2 without claiming: when another process wrote in this window, or None."""
        name = self.shared_key(key)
        holder = self._gate(lambda shared: shared.get(name))
        return float(holder) if holder is not None else None

    def publish(self, key: tuple[Any, ...], written_at: float, until: float | None = None) -> bool:
        """Tell other processes about a committed write. False (nothing set) when the
        window it opened has already ended."""
        remaining = self._remaining(written_at, until)
        if remaining <= 0:
            return False
        name = self.shared_key(key)
        self._gate(lambda shared: shared.set(name, written_at, timeout=remaining))
        return True

    def release(self, key: tuple[Any, ...]) -> None:
        """Give a claimed window back after a failed write, so another process may try."""
        name = self.shared_key(key)
        self._gate(lambda shared: shared.delete(name))


class Claim:
    """A write this process may make in a user's window, from ``Cooldown.begin``.

    After the write, exactly one of: ``commit`` once it committed (the window is
    remembered here and announced to the other processes), or ``abort`` when it failed
    (a claimed gate is given back, so the user is written again soon). Both may raise
    ``CacheUnavailable`` after doing what needs no cache.
    """

    def __init__(
        self, cooldown: Cooldown, key: tuple[Any, str], day: date, wall: float, day_end: float
    ) -> None:
        self.cooldown = cooldown
        self.key = key
        #: The calendar day of the write in ``Cooldown.zone``: a window never outlives it,
        #: so the first activity of a day reaches the ledger, however close to midnight.
        self.day = day
        self.wall = wall
        self.day_end = day_end
        self.shared = False  # the gate answered
        self.claimed = False  # and holds this claim
        self.gate_error: CacheUnavailable | None = None

    @property
    def gate(self) -> tuple[Any, ...]:
        """The shared tier's key: the window is per calendar day there too."""
        return (*self.key, self.day)

    def commit(self, written: bool, stored_at: float | None) -> None:
        """The write committed; ``stored_at`` is the stored time after it (newer than this
        write's when the database guard refused it), None when nothing is stored."""
        cooldown = self.cooldown
        # A stored time newer than ours, or none at all (a deleted user), still earns a
        # window: there is nothing to write before it ends.
        written_at = stored_at if stored_at is not None else time.time()
        cooldown.remember(self.key, written_at, until=self.day_end)
        if self.shared and not self.claimed and written:
            cooldown.publish(self.gate, self.wall, until=self.day_end)
        elif (
            self.claimed
            and not written
            and stored_at is not None
            and not cooldown.publish(self.gate, stored_at, until=self.day_end)
        ):
            # The claim announced a write at ``wall`` that the database guard refused: an
            # earlier write (made while the cache was down or empty) holds the window. It
            # was just announced instead, unless its window is over: then free the gate, or
            # other workers would skip this user until ``wall + COOLDOWN``.
            cooldown.release(self.gate)

    def abort(self) -> None:
        """The write failed: give a claimed gate back."""
        if self.claimed:
            self.cooldown.release(self.gate)
