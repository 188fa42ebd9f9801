from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from strawberry_activity import tracking
from strawberry_activity.conf import activity_settings
from tests.testapp.models import User

pytest_plugins = ["strawberry_activity.testing"]


@pytest.fixture(autouse=True)
def _fresh_tracking() -> Iterator[None]:
    """Every test starts with empty cooldowns, caches and warning throttles."""
    activity_settings.reload()
    tracking.reset()
    for alias in ("default", "shared"):
        caches[alias].clear()
    yield
    tracking.reset()


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
def queries(db: None) -> Iterator[CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as ctx:
        yield ctx
