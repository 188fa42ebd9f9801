"""The one settings object: ``activity_settings``.

Everything is read from a single dict in the project's settings::

    STRAWBERRY_ACTIVITY = {
        "COOLDOWN": 300,
        "CACHE_ALIAS": "default",
    }

Values are resolved lazily on first access and cached as plain attributes, so reading a
setting on the hot path costs one attribute lookup. ``override_settings`` in tests reloads
them through Django's ``setting_changed`` signal. Validation lives in ``checks.py``: a wrong
value is a system-check error at start-up, never a crash at the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

__all__ = [
    "DEFAULTS",
    "SETTING_NAME",
    "WATCHED_SETTINGS",
    "ActivitySettings",
    "PerProcess",
    "activity_settings",
]

SETTING_NAME = "STRAWBERRY_ACTIVITY"

T = TypeVar("T")

DEFAULTS: dict[str, Any] = {
    # Seconds between two writes for one user (per kind).
    "COOLDOWN": 300,
    # Windows the in-process cooldown remembers, one per (user, kind).
    "COOLDOWN_MAXSIZE": 100_000,
    # A Django cache alias shared by all workers (Redis in production), or None.
    "CACHE_ALIAS": None,
    # Seconds a call to that cache (connect or reply) may take before the gate is skipped.
    "CACHE_TIMEOUT": 0.05,
    # Dotted path of the storage backend class.
    "BACKEND": "strawberry_activity.backends.db.DatabaseBackend",
    # Name of an indexed DateTimeField on the user model to write instead of our table.
    "USER_FIELD": None,
    # Operation types that count as activity.
    "TRACK_OPERATIONS": ("mutation",),
    # Whether a mutation that returned errors still counts.
    "TRACK_FAILED": True,
    # Dotted path of ``f(user) -> bool``: True means never count this user.
    "EXCLUDE": None,
    # Dotted path of ``f(execution_context) -> user | None`` (JWT and other set-ups).
    "GET_USER": None,
    # Mutation field name -> activity kind, e.g. {"sendMoney": "transaction"}.
    "MUTATION_KINDS": {},
    # Dotted path of a Strawberry ``BasePermission`` class guarding the metric fields.
    "METRICS_PERMISSION": "strawberry_activity.permissions.IsStaff",
    # Seconds to cache computed metrics (0: never).
    "METRICS_CACHE_SECONDS": 0,
    # Database alias for metric reads (a read replica), or None for the default router.
    "METRICS_DATABASE": None,
    # Bearer token a Prometheus scraper sends to strawberry_activity.prometheus.metrics_view.
    "PROMETHEUS_TOKEN": None,
    # Where activity lived before this package: [{"model", "user_field", "timestamp_field"}].
    "ACTIVITY_SOURCES": [],
    # Time zone of calendar days in the ledger and series (default: settings.TIME_ZONE).
    "DAY_TIMEZONE": None,
    # Largest window or range, in days, the metric APIs accept.
    "MAX_DAYS": 366,
    # Seconds a ``ts`` may lie in the future (clock skew) before it is rejected.
    "MAX_CLOCK_SKEW": 300,
    # Seconds a tracking statement may wait for a lock or run before it gives up (None: no
    # limit of ours). A write that times out is a logged failure, retried on a later request.
    "DB_TIMEOUT": 0.05,
    # Keep the numbers of days that are over (``ActivityRollup``) so that series and growth
    # analytics cost O(days), not O(ledger rows). False: always count from the ledger.
    "ROLLUPS": True,
}

# Settings holding a dotted path that is imported on first use.
IMPORT_STRINGS = frozenset({"BACKEND", "EXCLUDE", "GET_USER", "METRICS_PERMISSION"})


class ActivitySettings:
    """Lazy, cached view over ``settings.STRAWBERRY_ACTIVITY`` merged with ``DEFAULTS``.

    >>> from strawberry_activity.conf import activity_settings
    >>> activity_settings.COOLDOWN
    300
    """

    def __init__(self) -> None:
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, None)
        return value if isinstance(value, dict) else {}

    def raw(self, name: str) -> Any:
        """The value as written in settings (or its default), without importing anything."""
        if name == "DAY_TIMEZONE":
            return self.user_settings.get(name) or settings.TIME_ZONE or "UTC"
        return self.user_settings.get(name, DEFAULTS[name])

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid strawberry-activity setting: {name!r}")
        value = self.raw(name)
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        if name == "TRACK_OPERATIONS":
            value = frozenset(value)
        # Cache as a plain instance attribute: later reads skip __getattr__ entirely.
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            self.__dict__.pop(name, None)
        self._cached.clear()


activity_settings = ActivitySettings()


class PerProcess(Generic[T]):
    """One ``build()`` per process, made on first use and dropped when the settings it was
    built from change (like Django's ``CacheHandler``): the backend, the tracker.

    >>> backend = PerProcess(lambda: activity_settings.BACKEND())
    >>> backend.get() is backend.get()
    True
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()
        _per_process.append(self)

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    def reset(self) -> None:
        """Drop the instance: the next ``get()`` builds it again from settings."""
        with self._lock:
            self._value = None


_per_process: list[PerProcess[Any]] = []

#: The Django settings that ``activity_settings``, or anything built from it, depends on.
WATCHED_SETTINGS = frozenset({SETTING_NAME, "TIME_ZONE", "CACHES", "DATABASES", "AUTH_USER_MODEL"})


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    """The one receiver: ``override_settings`` in tests, the same as a restart."""
    if setting in WATCHED_SETTINGS:
        activity_settings.reload()
        for instance in _per_process:
            instance.reset()
