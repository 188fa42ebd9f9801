"""A circuit breaker: after a few failures in a row, stop calling a dependency for a while.

Tracking uses two, one per dependency that can make a request wait: the shared cooldown
gate (``cooldown``) and the database writes (``tracking``). While a breaker is open, a call
raises at once, costing no I/O; after ``retry_after`` seconds exactly one call probes the
dependency (half-open): success closes the breaker, failure opens it again::

    breaker = CircuitBreaker(failures=3, retry_after=10.0, error=CacheUnavailable,
                             meanwhile="the database guard holds the cooldown")
    breaker.call(lambda: cache.add(key, value))

Every call skipped raises ``error``; so does every failure (from the original exception),
unless ``wrap=False`` lets the original through. One exception type per dependency is one
rate-limited warning per minute (see ``tracking.report_failure``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["CircuitBreaker"]

_T = TypeVar("_T")


class CircuitBreaker:
    """Closed, open or half-open; thread-safe; the closed path takes no lock."""

    def __init__(
        self,
        *,
        failures: int,
        retry_after: float,
        error: type[Exception],
        meanwhile: str,
        wrap: bool = True,
    ) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.error = error
        self.meanwhile = meanwhile
        #: Whether a failure raises ``error`` (from the original) or the original itself.
        self.wrap = wrap
        self._failed = 0  # failures in a row
        self._open_until = 0.0  # monotonic time until which calls are skipped (0: closed)
        self._probing = False
        self._last_error = ""
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (the next call probes, or is)."""
        if not self._open_until:
            return "closed"
        if self._probing or time.monotonic() >= self._open_until:
            return "half-open"
        return "open"

    def reset(self) -> None:
        """Closed, with no failure counted: as a fresh worker process starts."""
        with self._lock:
            self._failed = 0
            self._open_until = 0.0
            self._probing = False

    def call(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation`` unless the breaker is open. Raises ``error`` when it was skipped
        (and, with ``wrap``, when it failed)."""
        probe = False
        if self._open_until:
            with self._lock:
                left = self._open_until - time.monotonic()
                if self._open_until and (left > 0 or self._probing):
                    raise self.error(
                        f"skipped for {max(left, 0):.1f} s more after {self._failed} "
                        f"failures in a row (last: {self._last_error}); {self.meanwhile}"
                    )
                probe = self._probing = bool(self._open_until)
        try:
            result = operation()
        except Exception as exc:
            with self._lock:
                self._failed += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                if probe or self._failed >= self.failures:
                    self._open_until = time.monotonic() + self.retry_after
                if probe:
                    self._probing = False
            if not self.wrap:
                raise
            raise self.error(self._last_error) from exc
        if self._failed or probe:
            self.reset()
        return result
