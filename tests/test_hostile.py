"""Hostile input (hypothesis): bad arguments get a clear error, lose nothing, store nothing.

- ``touch_last_activity``: naive and far-future timestamps, wrong types, odd kinds,
  deleted users and things that are not users.
- The GraphQL metric arguments (``activeUsers(kind:)``, ``count(days:)``,
  ``series(metric:, start:, end:)``): a GraphQL error, never a 500, and no metric query
  for invalid input.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strawberry_activity import touch_last_activity
from strawberry_activity.conf import activity_settings
from strawberry_activity.models import KIND_MAX_LENGTH, ActivityDay, UserActivity
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def snapshot() -> tuple[list[Any], list[Any]]:
    return (
        sorted(UserActivity.objects.values_list("user_id", "kind", "last_activity_at")),
        sorted(ActivityDay.objects.values_list("user_id", "kind", "day")),
    )


@pytest.fixture
def bystander(db: None) -> User:
    """Another user with stored activity that no hostile call may disturb."""
    other = User.objects.create_user("bystander", password="pw")
    touch_last_activity(other, ts=timezone.now() - timedelta(hours=1), force=True)
    return other


# -- touch_last_activity -------------------------------------------------------------------


@HYPOTHESIS
@given(ts=st.datetimes())
def test_naive_timestamps_are_refused(user: User, bystander: User, ts: datetime) -> None:
    before = snapshot()
    with pytest.raises(ValueError, match="timezone-aware"):
        touch_last_activity(user, ts=ts, force=True)
    assert snapshot() == before


@HYPOTHESIS
@given(
    ahead=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=365 * 7000)),
    zone=st.timezones(),
)
def test_future_timestamps_beyond_the_skew_are_refused(
    user: User, bystander: User, ahead: timedelta, zone: Any
) -> None:
    """One bad backfill must not make a user active forever."""
    skew = timedelta(seconds=float(activity_settings.MAX_CLOCK_SKEW))
    try:
        ts = (timezone.now() + skew + ahead).astimezone(zone)
    except OverflowError:
        return  # not a representable datetime: nobody can pass it
    before = snapshot()
    with pytest.raises(ValueError, match="future"):
        touch_last_activity(user, ts=ts, force=True)
    assert snapshot() == before


@HYPOTHESIS
@given(
    ts=st.one_of(
        st.integers(), st.floats(), st.text(max_size=30), st.dates(), st.booleans(),
        st.binary(max_size=10), st.lists(st.integers(), max_size=3),
    )
)  # fmt: skip
def test_timestamps_of_the_wrong_type_are_refused(user: User, bystander: User, ts: Any) -> None:
    before = snapshot()
    with pytest.raises(TypeError, match="ts must be a datetime"):
        touch_last_activity(user, ts=ts)
    assert snapshot() == before


@HYPOTHESIS
@given(
    kind=st.one_of(
        st.integers(), st.floats(), st.binary(max_size=10), st.booleans(),
        st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=2),
        st.integers(), max_size=2),
    )
)  # fmt: skip
def test_kinds_of_the_wrong_type_are_refused(user: User, bystander: User, kind: Any) -> None:
    before = snapshot()
    with pytest.raises(TypeError, match="kind must be a string"):
        touch_last_activity(user, kind=kind)
    assert snapshot() == before


@HYPOTHESIS
@given(kind=st.text(max_size=KIND_MAX_LENGTH * 4))
def test_any_text_kind_is_stored_exactly_or_refused(user: User, bystander: User, kind: str) -> None:
    """Unicode, huge, empty, control characters: stored as given, or a ValueError."""
    valid = 0 < len(kind) <= KIND_MAX_LENGTH and kind.isprintable()
    before = snapshot()
    if not valid:
        with pytest.raises(ValueError, match="printable characters"):
            touch_last_activity(user, kind=kind, force=True)
        assert snapshot() == before
        return
    touch_last_activity(user, kind=kind, force=True)
    assert UserActivity.objects.filter(user=user, kind=kind).count() == 1
    assert UserActivity.objects.filter(user=user, kind="default").count() == 1
    # The bystander's rows are untouched.
    assert [row for row in snapshot()[0] if row[0] == bystander.pk] == [
        row for row in before[0] if row[0] == bystander.pk
    ]


def test_deleted_users_store_nothing(bystander: User) -> None:
    stale = User.objects.create_user("ghost", password="pw")
    User.objects.filter(pk=stale.pk).delete()  # deleted elsewhere: this instance is stale
    deleted = User.objects.create_user("gone", password="pw")
    deleted.delete()  # its pk is now None
    before = snapshot()
    with CaptureQueriesContext(connection):
        assert touch_last_activity(stale) is False
        assert touch_last_activity(stale, force=True, kind="transaction") is False
        assert touch_last_activity(deleted) is False
    assert snapshot() == before


@pytest.mark.parametrize(
    "not_a_user",
    [42, "alice", b"alice", {"pk": 1}, object(), SimpleNamespace(pk=1)],
    ids=["int", "str", "bytes", "dict", "object", "no-is_authenticated"],
)  # fmt: skip
def test_things_that_are_not_users_are_refused(user: User, not_a_user: Any) -> None:
    before = snapshot()
    with pytest.raises(TypeError, match="user must be a user object"):
        touch_last_activity(not_a_user)
    assert snapshot() == before


@pytest.mark.parametrize(
    "not_active",
    [None, SimpleNamespace(is_authenticated=False, pk=1), User(username="unsaved")],
    ids=["none", "anonymous", "unsaved"],
)
def test_users_that_cannot_be_active_are_ignored(user: User, not_active: Any) -> None:
    before = snapshot()
    assert touch_last_activity(not_active) is False
    assert snapshot() == before


def test_an_authenticated_object_with_a_bogus_pk_is_caught(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a user of this database at all: logged and ignored, not a crash."""
    before = snapshot()
    impostor = SimpleNamespace(is_authenticated=True, pk="1; DROP TABLE auth_user")
    assert touch_last_activity(impostor) is False
    assert snapshot() == before
    assert any(r.name == "strawberry_activity" for r in caplog.records)


# -- the GraphQL metric arguments ---------------------------------------------------------

METRIC_TABLES = ("strawberry_activity_", "COUNT(")


def metric_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if any(t in q["sql"] for t in METRIC_TABLES)]


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def ask(client: Client, query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
    """POST to both views' paths; returns status, body and the metric queries run."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(
            "/graphql/",
            json.dumps({"query": query, "variables": variables}),
            content_type="application/json",
        )
    assert response.status_code != 500
    return response.status_code, response.json(), len(metric_queries(ctx))


def assert_clear_error(status: int, body: dict[str, Any], metric_sql: int) -> None:
    assert status in (200, 400)
    assert body.get("errors"), body
    assert all(isinstance(e.get("message"), str) and e["message"] for e in body["errors"])
    assert not (body.get("data") or {}).get("activeUsers")
    assert metric_sql == 0


@HYPOTHESIS
@given(days=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.just(366)))
def test_count_days(staff_client: Client, bystander: User, days: int) -> None:
    before = snapshot()
    status, body, metric_sql = ask(
        staff_client, "query ($d: Int!) { activeUsers { count(days: $d) } }", {"d": days}
    )
    if 1 <= days <= int(activity_settings.MAX_DAYS):
        assert status == 200, body
        assert "errors" not in body, body
        assert body["data"]["activeUsers"]["count"] >= 0
    else:
        assert_clear_error(status, body, metric_sql)
    assert snapshot() == before


@HYPOTHESIS
@given(
    days=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
        st.text(max_size=10), st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
    )
)  # fmt: skip
def test_count_days_of_the_wrong_type(staff_client: Client, days: Any) -> None:
    status, body, metric_sql = ask(
        staff_client, "query ($d: Int!) { activeUsers { count(days: $d) } }", {"d": days}
    )
    assert_clear_error(status, body, metric_sql)


@HYPOTHESIS
@given(
    metric=st.sampled_from(["DAU", "WAU", "MAU"]),
    start=st.dates(),
    length=st.one_of(st.integers(min_value=-400, max_value=400), st.integers()),
)
def test_series_ranges(
    staff_client: Client, bystander: User, metric: str, start: date, length: int
) -> None:
    try:
        end = start + timedelta(days=length)
    except OverflowError:
        return
    before = snapshot()
    status, body, metric_sql = ask(
        staff_client,
        "query ($m: ActivityMetric!, $s: Date!, $e: Date!) "
        "{ activeUsers { series(metric: $m, start: $s, end: $e) { date value } } }",
        {"m": metric, "s": start.isoformat(), "e": end.isoformat()},
    )
    if start <= end and (end - start).days + 1 <= int(activity_settings.MAX_DAYS):
        assert status == 200, body
        assert "errors" not in body, body
        points = body["data"]["activeUsers"]["series"]
        assert len(points) == (end - start).days + 1
        assert points[0]["date"] == start.isoformat()
        assert all(p["value"] >= 0 for p in points)
    else:
        assert_clear_error(status, body, metric_sql)
    assert snapshot() == before


@HYPOTHESIS
@given(
    metric=st.one_of(st.text(max_size=8), st.integers()),
    start=st.one_of(st.text(max_size=12), st.integers(), st.just("2026-02-30")),
)
def test_series_garbage(staff_client: Client, metric: Any, start: Any) -> None:
    status, body, metric_sql = ask(
        staff_client,
        "query ($m: ActivityMetric!, $s: Date!) "
        '{ activeUsers { series(metric: $m, start: $s, end: "2026-01-01") { date } } }',
        {"m": metric, "s": start},
    )
    if metric in ("DAU", "WAU", "MAU") and _is_date(start) and start <= "2026-01-01":
        return  # a valid request after all (covered above)
    assert_clear_error(status, body, metric_sql)


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


@HYPOTHESIS
@given(kind=st.one_of(st.text(max_size=KIND_MAX_LENGTH * 3), st.integers()))
def test_kind_argument(staff_client: Client, bystander: User, kind: Any) -> None:
    before = snapshot()
    status, body, metric_sql = ask(
        staff_client, "query ($k: String) { activeUsers(kind: $k) { dau mau } }", {"k": kind}
    )
    valid = isinstance(kind, str) and 0 < len(kind) <= KIND_MAX_LENGTH and kind.isprintable()
    if valid:
        assert status == 200, body
        assert "errors" not in body, body
        assert body["data"]["activeUsers"]["mau"] >= 0
    else:
        assert_clear_error(status, body, metric_sql)
    assert snapshot() == before


def test_far_future_ts_error_names_the_setting(user: User) -> None:
    ts = datetime(9999, 12, 31, tzinfo=dt_timezone.utc)
    with pytest.raises(ValueError, match="MAX_CLOCK_SKEW"):
        touch_last_activity(user, ts=ts)
    assert not UserActivity.objects.exists()
