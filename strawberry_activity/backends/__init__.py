"""Storage backends. ``get_backend()`` returns the one configured by ``BACKEND``."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from strawberry_activity.backends.base import BaseBackend, Stored
from strawberry_activity.conf import SETTING_NAME, activity_settings

__all__ = ["BaseBackend", "Stored", "get_backend"]

_backend: BaseBackend | None = None
_lock = threading.Lock()


def get_backend() -> BaseBackend:
    """The process-wide backend instance, built from settings on first use."""
    global _backend
    current = _backend
    if current is None:
        with _lock:
            if _backend is None:
                _backend = activity_settings.BACKEND(
                    user_field=activity_settings.USER_FIELD, timeout=activity_settings.DB_TIMEOUT
                )
            current = _backend
    return current


@receiver(setting_changed)
def _reset_backend(*, setting: str, **kwargs: Any) -> None:
    global _backend
    if setting in (SETTING_NAME, "AUTH_USER_MODEL"):
        with _lock:
            _backend = None
