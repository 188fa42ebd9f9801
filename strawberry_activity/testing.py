"""Helpers for testing a project that uses strawberry-activity.

With pytest, load the plugin in your ``conftest.py``::

    pytest_plugins = ["strawberry_activity.testing"]

    def test_send_money_counts(activity, client, user):
        client.force_login(user)
        client.post("/graphql/", {"query": "mutation { sendMoney(amount: 5) }"},
                    content_type="application/json")
        assert activity.last_activity(user.pk, "default") is not None

``activity`` switches to the in-memory backend for one test and gives it to you; the
cooldown starts empty. Without pytest use ``memory_activity()`` as a context manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.test import override_settings

from strawberry_activity.backends import get_backend
from strawberry_activity.backends.memory import MemoryBackend
from strawberry_activity.conf import SETTING_NAME

__all__ = ["activity", "memory_activity"]

MEMORY_BACKEND = "strawberry_activity.backends.memory.MemoryBackend"


@contextmanager
def memory_activity(**overrides: Any) -> Iterator[MemoryBackend]:
    """Track into a fresh ``MemoryBackend`` (plus any setting ``overrides``) meanwhile."""
    current = getattr(settings, SETTING_NAME, {})
    with override_settings(**{SETTING_NAME: {**current, "BACKEND": MEMORY_BACKEND, **overrides}}):
        backend = get_backend()
        assert isinstance(backend, MemoryBackend)
        yield backend


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for users
    pass
else:

    @pytest.fixture
    def activity() -> Iterator[MemoryBackend]:
        """A fresh in-memory activity backend for one test."""
        with memory_activity() as backend:
            yield backend
