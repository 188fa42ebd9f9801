"""Fixtures of the compatibility pass (``pytest --ds tests.compat.settings -m compat``).

Under the suite's own settings (``tests.settings``) nothing here is collected: gqlauth needs
its settings and tables, which the main suite must not carry. ``scripts/test`` runs this
folder in a pass of its own.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db.backends.utils import CursorWrapper
from django.test import Client

from strawberry_activity import tracking
from strawberry_activity.models import ActivityDay, UserActivity
from tests.compat import COMPAT
from tests.testapp.models import User

if not COMPAT:
    collect_ignore_glob = ["test_*.py"]

    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(
            "tests/compat: not collected under these settings; run them with "
            "`pytest --ds tests.compat.settings -m compat` (scripts/test does)"
        )


# -- users, sessions, activity ----------------------------------------------------------------


@pytest.fixture
def member(transactional_db: None) -> User:
    """``alice`` / ``pw``, verified for gqlauth (whose ``tokenAuth`` refuses unverified users)."""
    from gqlauth.models import UserStatus

    user = User.objects.create_user("alice", password="pw")
    UserStatus.objects.filter(user=user).update(verified=True)
    forget_activity()
    return user


def forget_activity() -> None:
    UserActivity.objects.all().delete()
    ActivityDay.objects.all().delete()
    tracking.reset()


def recorded(user: User) -> bool:
    return UserActivity.objects.filter(user=user).exists()


def session_cookie(user: User) -> str:
    """A session for ``user`` (its login then forgotten): the ``sessionid`` cookie's value."""
    client = Client()
    client.force_login(user)
    forget_activity()
    return client.cookies["sessionid"].value


def activity_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the package logged at WARNING or above: a real stack must leave nothing."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("strawberry_activity") and r.levelno >= logging.WARNING
    ]


# -- statements of every thread -------------------------------------------------------------


class AllThreadsQueries:
    """Like ``CaptureQueriesContext``, for the statements of every thread and connection:
    async views, Channels consumers and live servers run the ORM in threads of their own."""

    def __init__(self) -> None:
        self.captured_queries: list[dict[str, str]] = []

    @property
    def statements(self) -> list[str]:
        return [q["sql"] for q in self.captured_queries]


@contextmanager
def all_threads_queries() -> Iterator[AllThreadsQueries]:
    capture = AllThreadsQueries()
    execute, executemany = CursorWrapper._execute, CursorWrapper._executemany

    def _execute(self: CursorWrapper, sql: str, *args: Any) -> Any:
        capture.captured_queries.append({"sql": sql})
        return execute(self, sql, *args)

    def _executemany(self: CursorWrapper, sql: str, *args: Any) -> Any:
        capture.captured_queries.append({"sql": sql})
        return executemany(self, sql, *args)

    CursorWrapper._execute = _execute  # type: ignore[method-assign]
    CursorWrapper._executemany = _executemany  # type: ignore[method-assign]
    try:
        yield capture
    finally:
        CursorWrapper._execute = execute  # type: ignore[method-assign]
        CursorWrapper._executemany = executemany  # type: ignore[method-assign]


# -- a live server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server_url(transactional_db: None) -> Iterator[str]:
    """uvicorn serving ``tests.compat.asgi`` (Channels in front of Django) on a free loopback
    port, in a thread of this process: it sees the test database and the test's settings."""
    import uvicorn

    from tests.compat.asgi import application

    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=free_port(),
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
