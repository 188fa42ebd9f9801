"""``activeUsers`` through GraphQL (SPEC §6): numbers for staff, nothing (and no metric
query) for anyone else, clear errors for out-of-range input; sync and async views.

Queries are recorded at the cursor class, so statements run in asgiref's sync thread (the
async view's resolvers) are seen as well as the test thread's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client, override_settings
from django.utils import timezone
from strawberry.permission import BasePermission
from strawberry.types import Info

from strawberry_activity.metrics import get_active_users, get_activity_metrics
from strawberry_activity.models import UserActivity
from strawberry_activity.permissions import request_user
from tests.conftest import gql
from tests.testapp.models import User

SUMMARY = """
query {
  activeUsers {
    dau wau mau totalUsers dauPercentage wauPercentage mauPercentage stickiness asOf
    count(days: 3)
  }
}
"""
FIELDS = {
    "dau": "dau",
    "wau": "wau",
    "mau": "mau",
    "totalUsers": "total_users",
    "dauPercentage": "dau_percentage",
    "wauPercentage": "wau_percentage",
    "mauPercentage": "mau_percentage",
    "stickiness": "stickiness",
}
DENIED = "You do not have permission to view activity metrics."


def metric_queries(log: list[str]) -> list[str]:
    """The statements that compute metrics: anything beyond loading the session and user.

    The session user is loaded (for the permission check) by primary key; every metric
    statement counts (``COUNT(``) or reads the activity table.
    """
    return [q for q in log if "COUNT(" in q.upper() or "strawberry_activity_" in q]


def not_auth(log: list[str]) -> list[str]:
    """Statements other than the session and user lookups of an authenticated request."""
    return [q for q in log if "django_session" not in q and 'FROM "testapp_user"' not in q]


def population() -> None:
    """Users active 2h, 3 days, 10 days, 40 days ago and never; one with a second kind."""
    now = timezone.now()
    for i, age in enumerate([timedelta(hours=2), timedelta(days=3), timedelta(days=10),
                             timedelta(days=40), None]):  # fmt: skip
        user = User.objects.create(username=f"p{i}")
        if age is not None:
            UserActivity.objects.create(user=user, last_activity_at=now - age)
            if i == 1:
                UserActivity.objects.create(
                    user=user, kind="transaction", last_activity_at=now - age
                )


def assert_numbers_match_python(data: dict[str, Any], kind: str | None = None) -> None:
    expected = get_activity_metrics(kind=kind)
    for field, key in FIELDS.items():
        assert data[field] == expected[key], field
    assert data["count"] == get_active_users(3, kind=kind).count()
    as_of = datetime.fromisoformat(data["asOf"])
    assert timedelta(0) <= expected["as_of"] - as_of < timedelta(minutes=1)


def assert_denied(result: dict[str, Any], log: list[str]) -> None:
    assert result["data"] is None
    assert [e["message"] for e in result["errors"]] == [DENIED]
    assert result["errors"][0]["path"] == ["activeUsers"]
    assert metric_queries(log) == []
    assert not_auth(log) == []


# -- sync view -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_gets_the_numbers(client: Client, staff: User, sql: list[str]) -> None:
    population()
    client.force_login(staff)
    sql.clear()
    result = gql(client, SUMMARY)
    assert "errors" not in result
    # The positive control of the query filter used by the "no query" tests below.
    assert len(metric_queries(sql)) == 2  # the summary (one query) and count(days: 3)
    data = result["data"]["activeUsers"]
    assert_numbers_match_python(data)
    # The staff user's own login counted as activity (SPEC §3.5).
    assert (data["dau"], data["wau"], data["mau"], data["totalUsers"]) == (2, 3, 4, 6)


@pytest.mark.django_db
def test_kind_argument(client: Client, staff: User) -> None:
    population()
    client.force_login(staff)
    result = gql(client, SUMMARY.replace("activeUsers {", 'activeUsers(kind: "transaction") {'))
    data = result["data"]["activeUsers"]
    assert_numbers_match_python(data, kind="transaction")
    assert data["wau"] == 1
    bad = gql(client, 'query { activeUsers(kind: "") { dau } }')
    assert bad["data"] is None
    assert "kind must be" in bad["errors"][0]["message"]


@pytest.mark.django_db
def test_anonymous_gets_nothing(client: Client, sql: list[str]) -> None:
    population()
    sql.clear()
    result = gql(client, SUMMARY)
    assert_denied(result, sql)
    assert sql == []  # no session cookie: not even a lookup


@pytest.mark.django_db
@pytest.mark.parametrize(
    "attrs", [{}, {"is_staff": True, "is_active": False}], ids=["user", "inactive-staff"]
)
def test_non_staff_gets_nothing(client: Client, sql: list[str], attrs: dict[str, Any]) -> None:
    population()
    client.force_login(User.objects.create_user("someone", password="pw", **attrs))
    sql.clear()
    assert_denied(gql(client, SUMMARY), sql)
    sql.clear()
    assert_denied(gql(client, "query { activeUsers { count(days: 7) } }"), sql)


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, -5, 100000, 367])
def test_out_of_range_days(client: Client, staff: User, sql: list[str], days: int) -> None:
    population()
    client.force_login(staff)
    for query in (
        f"query {{ activeUsers {{ count(days: {days}) }} }}",
        # Beside summary fields too: the input is checked before the summary query runs.
        f"query {{ activeUsers {{ dau count(days: {days}) }} }}",
    ):
        sql.clear()
        result = gql(client, query)
        assert result["data"] is None
        message = result["errors"][0]["message"]
        assert message == f"days must be between 1 and 366 (MAX_DAYS), got {days}"
        assert metric_queries(sql) == []
        assert not_auth(sql) == []
    # The same through a variable.
    sql.clear()
    result = gql(client, "query Q($d: Int!) { activeUsers { count(days: $d) } }", {"d": days})
    assert "between 1 and 366" in result["errors"][0]["message"]
    assert metric_queries(sql) == []


@pytest.mark.django_db
def test_max_days_setting(client: Client, staff: User) -> None:
    population()
    client.force_login(staff)
    with override_settings(STRAWBERRY_ACTIVITY={"MAX_DAYS": 30}):
        assert gql(client, "query { activeUsers { count(days: 30) } }")["data"] == {
            "activeUsers": {"count": get_active_users(30).count()}
        }
        result = gql(client, "query { activeUsers { count(days: 31) } }")
        assert "between 1 and 30" in result["errors"][0]["message"]


@pytest.mark.django_db
def test_count_only_runs_no_summary_query(client: Client, staff: User, sql: list[str]) -> None:
    population()
    client.force_login(staff)
    sql.clear()
    result = gql(client, "query { activeUsers { count(days: 7) } }")
    assert len(metric_queries(sql)) == 1
    # p0, p1 and the staff user (whose login counted).
    assert result["data"]["activeUsers"]["count"] == get_active_users(7).count() == 3


@pytest.mark.django_db
def test_fragments(client: Client, staff: User, sql: list[str]) -> None:
    population()
    client.force_login(staff)
    query = """
    query { activeUsers { ...Numbers ... on ActiveUsers { count(days: 3) } } }
    fragment Numbers on ActiveUsers { dau wau mau totalUsers dauPercentage wauPercentage
                                      mauPercentage stickiness asOf }
    """
    assert_numbers_match_python(gql(client, query)["data"]["activeUsers"])
    sql.clear()
    bad = gql(client, query.replace("count(days: 3)", "count(days: 0)"))
    assert "between 1 and 366" in bad["errors"][0]["message"]
    assert metric_queries(sql) == []


# -- METRICS_PERMISSION ----------------------------------------------------------------------


class MetricsToken(BasePermission):
    """A custom permission: a request carrying the metrics token, logged in or not."""

    message = "A metrics token is required."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        request = info.context["request"] if isinstance(info.context, dict) else None
        request = request or getattr(info.context, "request", None)
        return bool(request is not None and request.headers.get("x-metrics-token") == "s3cret")


CUSTOM = {"METRICS_PERMISSION": "tests.test_graphql_metrics.MetricsToken"}


@pytest.mark.django_db
def test_custom_permission(sql: list[str]) -> None:
    population()
    with override_settings(STRAWBERRY_ACTIVITY=CUSTOM):
        allowed = Client(headers={"x-metrics-token": "s3cret"})
        result = gql(allowed, SUMMARY)
        assert "errors" not in result
        assert_numbers_match_python(result["data"]["activeUsers"])
        sql.clear()
        refused = gql(Client(headers={"x-metrics-token": "wrong"}), SUMMARY)
        assert refused["data"] is None
        assert refused["errors"][0]["message"] == "A metrics token is required."
        assert sql == []


@pytest.mark.django_db
def test_superuser_permission(client: Client, staff: User, sql: list[str]) -> None:
    population()
    settings = {"METRICS_PERMISSION": "strawberry_activity.permissions.IsSuperuser"}
    with override_settings(STRAWBERRY_ACTIVITY=settings):
        client.force_login(staff)
        sql.clear()
        assert_denied(gql(client, SUMMARY), sql)
        client.force_login(User.objects.create_superuser("root", password="pw"))
        assert_numbers_match_python(gql(client, SUMMARY)["data"]["activeUsers"])


def test_request_user_reads_dict_and_object_contexts() -> None:
    class Request:
        user = "u"

    class Context:
        request = Request()

    class FakeInfo:
        def __init__(self, context: Any) -> None:
            self.context = context

    assert request_user(FakeInfo({"request": Request()})) == "u"  # type: ignore[arg-type]
    assert request_user(FakeInfo(Context())) == "u"  # type: ignore[arg-type]
    assert request_user(FakeInfo({})) is None  # type: ignore[arg-type]


# -- async view ----------------------------------------------------------------------------


async def agql(
    client: AsyncClient, query: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql-async/",
        json.dumps({"query": query}),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


@pytest_asyncio.fixture
async def closing_sync_thread() -> AsyncIterator[None]:
    """Resolvers ran in asgiref's sync thread: close its connections there afterwards, or
    PostgreSQL cannot drop the test database at the end of the run."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("closing_sync_thread")
async def test_async_staff_gets_the_numbers(sql: list[str]) -> None:
    await sync_to_async(population)()
    staff = await User.objects.acreate(username="admin", is_staff=True)
    client = AsyncClient()
    await sync_to_async(client.force_login)(staff)
    sql.clear()
    result = await agql(client, SUMMARY)
    assert "errors" not in result
    assert len(metric_queries(sql)) == 2
    await sync_to_async(assert_numbers_match_python)(result["data"]["activeUsers"])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("closing_sync_thread")
async def test_async_denied_and_invalid(sql: list[str]) -> None:
    await sync_to_async(population)()
    anonymous = AsyncClient()
    sql.clear()
    assert_denied(await agql(anonymous, SUMMARY), sql)

    someone = AsyncClient()
    await sync_to_async(someone.force_login)(await User.objects.acreate(username="someone"))
    sql.clear()
    assert_denied(await agql(someone, SUMMARY), sql)

    staff = AsyncClient()
    await sync_to_async(staff.force_login)(
        await User.objects.acreate(username="admin", is_staff=True)
    )
    for days in (0, -5, 100000):
        sql.clear()
        result = await agql(staff, f"query {{ activeUsers {{ dau count(days: {days}) }} }}")
        assert result["data"] is None
        assert "between 1 and 366" in result["errors"][0]["message"]
        assert metric_queries(sql) == []


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("closing_sync_thread")
async def test_async_custom_permission() -> None:
    await sync_to_async(population)()
    with override_settings(STRAWBERRY_ACTIVITY=CUSTOM):
        result = await agql(AsyncClient(), SUMMARY, {"x-metrics-token": "s3cret"})
        await sync_to_async(assert_numbers_match_python)(result["data"]["activeUsers"])
        refused = await agql(AsyncClient(), SUMMARY)
        assert refused["errors"][0]["message"] == "A metrics token is required."
