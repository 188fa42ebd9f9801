"""Storage backends. ``get_backend()`` returns the one configured by ``BACKEND``."""

from __future__ import annotations

from strawberry_activity.backends.base import BaseBackend, Stored
from strawberry_activity.conf import PerProcess, activity_settings

__all__ = ["BaseBackend", "Stored", "get_backend"]


def _build() -> BaseBackend:
    backend: BaseBackend = activity_settings.BACKEND(
        user_field=activity_settings.USER_FIELD, timeout=activity_settings.DB_TIMEOUT
    )
    return backend


_backend = PerProcess(_build)


def get_backend() -> BaseBackend:
    """The process-wide backend instance, built from settings on first use."""
    return _backend.get()
