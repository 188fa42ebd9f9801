"""The cooldown: at most one write per user and kind per ``COOLDOWN`` seconds.

Two tiers in front of the database guard, like Django's ``cached_db`` sessions sit on a
cache and a table:

1. ``local``: a bounded in-process map of window ends (monotonic times), oldest write
   first. Checking it is the hot path: one dict lookup and one clock read, no I/O, no lock.
2. ``shared``: an optional Django cache (Redis in production) used as an atomic gate with
   ``cache.add``, so N worker processes write a user once per window, not N times.

An entry enters the local tier only once its write has committed (see ``tracking``), so a
rolled-back transaction never leaves a user unrecorded for a whole window.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.core.cache import BaseCache

__all__ = ["Cooldown"]

_KEY_PREFIX = "strawberry_activity"


class Cooldown:
    """The two cooldown tiers for one process.

    >>> cooldown = Cooldown(seconds=300, maxsize=100_000)
    >>> cooldown.active((42, "default"))
    False
    >>> cooldown.remember((42, "default"), written_at=time.time())
    >>> cooldown.active((42, "default"))
    True
    """

    def __init__(self, seconds: float, maxsize: int, shared: BaseCache | None = None) -> None:
        self.seconds = float(seconds)
        self.shared = shared
        self.maxsize = maxsize
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
        """Drop one key's window, or every window (tests, settings changes)."""
        with self._lock:
            if key is None:
                self._local.clear()
            else:
                self._local.pop(key, None)

    # -- tier 2 ------------------------------------------------------------------------

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
        assert self.shared is not None
        name = self.shared_key(key)
        timeout = max(1.0, self._remaining(now, until))
        if self.shared.add(name, now, timeout=timeout):
            return None
        holder = self.shared.get(name)
        # Expired between add and get: nobody holds the window any more.
        return float(holder) if holder is not None else None

    def peek(self, key: tuple[Any, ...]) -> float | None:
        """Tier 2 without claiming: when another process wrote in this window, or None."""
        assert self.shared is not None
        holder = self.shared.get(self.shared_key(key))
        return float(holder) if holder is not None else None

    def publish(self, key: tuple[Any, ...], written_at: float, until: float | None = None) -> bool:
        """Tell other processes about a committed write. False (nothing set) when the
        window it opened has already ended."""
        assert self.shared is not None
        remaining = self._remaining(written_at, until)
        if remaining <= 0:
            return False
        self.shared.set(self.shared_key(key), written_at, timeout=remaining)
        return True

    def release(self, key: tuple[Any, ...]) -> None:
        """Give a claimed window back after a failed write, so another process may try."""
        assert self.shared is not None
        self.shared.delete(self.shared_key(key))
