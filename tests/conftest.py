from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext

from strawberry_activity import tracking
from strawberry_activity.backends import rollups
from strawberry_activity.conf import activity_settings
from strawberry_activity.models import ActivityDay, UserActivity
from tests.testapp.models import User

pytest_plugins = ["strawberry_activity.testing"]


@pytest.fixture(autouse=True)
def _fresh_tracking() -> Iterator[None]:
    """Every test starts with empty cooldowns, caches and warning throttles."""
    activity_settings.reload()
    tracking.reset()
    rollups.forget_seen()
    for alias in ("default", "shared"):
        caches[alias].clear()
    yield
    tracking.reset()


@pytest.fixture(scope="session", autouse=True)
def _close_sync_thread_connections(django_db_setup: None) -> Iterator[None]:
    """Async tests run ORM work in asgiref's one sync thread, whose connection outlives
    them: close it before pytest-django drops the test database (PostgreSQL refuses to
    drop a database with a session open)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def other(db: None) -> User:
    return User.objects.create_user("bob", password="pw")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("admin", password="pw", is_staff=True)


def gql(
    client: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    path: str = "/graphql/",
    operation_name: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name is not None:
        body["operationName"] = operation_name
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def recorded(user: User, kind: str = "default") -> bool:
    """Whether ``user`` has a stored last activity of ``kind``."""
    return UserActivity.objects.filter(user=user, kind=kind).exists()


def forget_activity() -> None:
    """No stored activity and a fresh tracker (cooldown, warning throttles)."""
    UserActivity.objects.all().delete()
    ActivityDay.objects.all().delete()
    tracking.reset()


def logged_in(user: User) -> Client:
    """A client with a session for ``user``, whose login (which counts) is then forgotten."""
    client = Client()
    client.force_login(user)
    forget_activity()
    return client


def activity_writes(ctx: CaptureQueriesContext) -> list[str]:
    """The statements of a capture that wrote activity (the upsert or a USER_FIELD UPDATE)."""
    return [
        q["sql"]
        for q in ctx.captured_queries
        if ("strawberry_activity_useractivity" in q["sql"] and q["sql"].startswith("INSERT"))
        or (q["sql"].startswith("UPDATE") and "last_activity_at" in q["sql"])
    ]


def ledger_writes(ctx: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("INSERT") and "strawberry_activity_activityday" in q["sql"]
    ]


@pytest.fixture
def sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement executed meanwhile, from any thread."""
    log: list[str] = []
    execute = CursorWrapper._execute

    def recording(self: CursorWrapper, statement: str, *args: Any) -> Any:
        log.append(statement)
        return execute(self, statement, *args)

    monkeypatch.setattr(CursorWrapper, "_execute", recording)
    return log


class SchemaSpy:
    """Counts the calls the GraphQL fields make to the named functions of
    ``strawberry_activity.schema`` (from any thread), calling through to them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
        from strawberry_activity import schema as activity_schema

        self.calls: list[str] = []
        for name in names:
            real = getattr(activity_schema, name)
            monkeypatch.setattr(activity_schema, name, self._wrap(name, real))

    def _wrap(self, name: str, real: Any) -> Any:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return real(*args, **kwargs)

        return spy


@pytest.fixture
def queries(db: None) -> Iterator[CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as ctx:
        yield ctx


# -- services: PostgreSQL / Redis tests skip on a laptop, fail in CI ------------------------

SERVICE_HINTS = {
    "postgres": "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
    "redis": "REDIS_URL=redis://127.0.0.1:6379/7",
}


def missing_service(name: str) -> str | None:
    """Why the service a ``@pytest.mark.<name>`` test needs is not configured, or None."""
    from django.conf import settings
    from django.db import connections

    if name == "postgres" and connections["default"].vendor != "postgresql":
        return "PostgreSQL"
    if name == "redis" and not getattr(settings, "REDIS_URL", None):
        return "Redis"
    return None


def require(service: str, what: str, hint: str) -> None:
    """Skip (laptop) or fail (``CI`` set) a test whose ``service`` is unavailable.

    ``scripts/test`` declares its SQLite pass (``STRAWBERRY_ACTIVITY_TEST_STACK=sqlite``):
    there the PostgreSQL / Redis tests are left to the second pass, which CI always runs.
    """
    import os

    message = f"needs {what}: {hint}"
    if os.environ.get("STRAWBERRY_ACTIVITY_TEST_STACK") == "sqlite":
        pytest.skip(f"{message} (runs in the PostgreSQL + Redis pass of scripts/test)")
    if os.environ.get("CI"):
        pytest.fail(f"CI requires every service, but this test {message}", pytrace=False)
    pytest.skip(f"{message} (set it to run this test)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, hint in SERVICE_HINTS.items():
        if item.get_closest_marker(name) is not None:
            what = missing_service(name)
            if what is not None:
                require(name, what, f"set {hint}")
