"""Growth analytics through GraphQL (SPEC §10): ``retention``, ``lifecycle`` and
``powerUsers`` under ``activeUsers``, the Python API's numbers for staff, nothing (and no
analytics call) for anyone else through every door, clear errors before any query.

The doors are those of ``tests.test_security`` (sync and async views, both with batching).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client, override_settings

from strawberry_activity import get_lifecycle, get_power_users, get_retention
from strawberry_activity.metrics import local_today
from strawberry_activity.models import ActivityDay
from tests.conftest import SchemaSpy
from tests.testapp.models import User

RETENTION = """
query ($start: Date!, $end: Date!, $period: ActivityPeriod!, $kind: String) {
  activeUsers(kind: $kind) {
    retention(start: $start, end: $end, period: $period) { start size retained }
  }
}
"""
LIFECYCLE = """
query ($start: Date!, $end: Date!, $period: ActivityPeriod!, $kind: String) {
  activeUsers(kind: $kind) {
    lifecycle(start: $start, end: $end, period: $period) {
      start new returning resurrecting dormant quickRatio
    }
  }
}
"""
POWER = """
query ($days: Int!, $end: Date, $kind: String) {
  activeUsers(kind: $kind) { powerUsers(days: $days, end: $end) { days users } }
}
"""
DENIED = "You do not have permission to view activity metrics."


def ledger_reads(log: list[str]) -> list[str]:
    return [q for q in log if "strawberry_activity_" in q or "COUNT(" in q.upper()]


def post(client: Client, body: Any, path: str = "/graphql/") -> Any:
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def gql(client: Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    return post(client, {"query": query, "variables": variables or {}})


def population() -> None:
    """Users in weekly cohorts from May to July 2026, some back later, one kind stricter."""
    users = User.objects.bulk_create([User(username=f"g{i}") for i in range(24)])
    rows = []
    for i, user in enumerate(users):
        first = date(2026, 5, 4) + timedelta(days=3 * i)
        for offset in range(0, 8 * (i % 4 + 1), 1 + i % 5):
            rows.append(ActivityDay(user=user, day=first + timedelta(days=offset)))
            if offset % 3 == 0:
                rows.append(ActivityDay(user=user, kind="transaction", day=first))
    ActivityDay.objects.bulk_create(rows, ignore_conflicts=True)


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["DAY", "WEEK", "MONTH"])
@pytest.mark.parametrize("kind", [None, "transaction"])
def test_staff_gets_the_python_api_numbers(
    staff_client: Client, period: str, kind: str | None
) -> None:
    population()
    start, end = date(2026, 5, 10), date(2026, 7, 31)
    variables = {"start": start.isoformat(), "end": end.isoformat(), "period": period}
    variables["kind"] = kind  # type: ignore[assignment]
    data = gql(staff_client, RETENTION, variables)["data"]["activeUsers"]["retention"]
    expected = get_retention(start, end, period=period.lower(), kind=kind)
    assert data == [
        {"start": c.start.isoformat(), "size": c.size, "retained": list(c.retained)}
        for c in expected
    ]
    assert any(c["size"] for c in data)
    data = gql(staff_client, LIFECYCLE, variables)["data"]["activeUsers"]["lifecycle"]
    points = get_lifecycle(start, end, period=period.lower(), kind=kind)
    assert data == [
        {
            "start": p.start.isoformat(),
            "new": p.new,
            "returning": p.returning,
            "resurrecting": p.resurrecting,
            "dormant": p.dormant,
            "quickRatio": p.quick_ratio,
        }
        for p in points
    ]
    power = gql(staff_client, POWER, {"days": 40, "end": "2026-07-01", "kind": kind})
    histogram = get_power_users(days=40, end=date(2026, 7, 1), kind=kind)
    assert power["data"]["activeUsers"]["powerUsers"] == [
        {"days": n, "users": users} for n, users in histogram.items()
    ]


@pytest.mark.django_db
def test_defaults_and_literals(staff_client: Client) -> None:
    """period defaults to WEEK, days to 28 and end to today; literals work as variables."""
    population()
    query = """{ activeUsers {
      retention(start: "2026-05-01", end: "2026-06-30") { start size retained }
      monthly: lifecycle(start: "2026-05-01", end: "2026-07-31", period: MONTH) { start new }
      powerUsers { days users }
      lastWeek: powerUsers(days: 7, end: "2026-06-07") { days users }
    } }"""
    data = gql(staff_client, query)["data"]["activeUsers"]
    weekly = get_retention(date(2026, 5, 1), date(2026, 6, 30))
    assert [c["start"] for c in data["retention"]] == [c.start.isoformat() for c in weekly]
    assert data["retention"][0]["start"] == "2026-04-27"  # the Monday of the week
    assert [p["start"] for p in data["monthly"]] == ["2026-05-01", "2026-06-01", "2026-07-01"]
    assert [b["days"] for b in data["powerUsers"]] == list(range(1, 29))
    today = get_power_users(end=local_today())
    assert [b["users"] for b in data["powerUsers"]] == list(today.values())
    week = get_power_users(days=7, end=date(2026, 6, 7))
    assert [b["users"] for b in data["lastWeek"]] == list(week.values())


BAD_LITERALS = [
    ('retention(start: "2026-02-01", end: "2026-01-01") { size }', "before start"),
    ('lifecycle(start: "2024-01-01", end: "2026-01-01", period: DAY) { new }', "more than 366"),
    ("powerUsers(days: 0) { users }", "days must be between 1 and 366 (MAX_DAYS), got 0"),
    ("powerUsers(days: 400) { users }", "days must be between 1 and 366 (MAX_DAYS), got 400"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("selection", "message"), BAD_LITERALS)
@pytest.mark.parametrize("beside", ["", "dau "])
def test_bad_input_fails_before_any_query(
    staff_client: Client, sql: list[str], selection: str, message: str, beside: str
) -> None:
    sql.clear()
    result = gql(staff_client, f"{{ activeUsers {{ {beside}{selection} }} }}")
    assert result["data"] is None
    assert message in result["errors"][0]["message"]
    assert result["errors"][0]["path"] == ["activeUsers"]
    assert ledger_reads(sql) == []


@pytest.mark.django_db
def test_bad_variables_fail_before_any_query(staff_client: Client, sql: list[str]) -> None:
    for query, variables, message in [
        (RETENTION, {"start": "2026-03-01", "end": "2026-02-01", "period": "MONTH"}, "before"),
        (LIFECYCLE, {"start": "2025-01-01", "end": "2026-03-01", "period": "WEEK"}, "spans"),
        (POWER, {"days": -3}, "between 1 and 366"),
    ]:
        sql.clear()
        result = gql(staff_client, query, variables)
        assert result["data"] is None
        assert message in result["errors"][0]["message"]
        assert ledger_reads(sql) == []
    # Not a period, not a date: GraphQL's own validation, no resolver at all.
    for variables in (
        {"start": "2026-01-01", "end": "2026-02-01", "period": "YEAR"},
        {"start": "2026-01-01", "end": "tomorrow", "period": "WEEK"},
    ):
        sql.clear()
        result = gql(staff_client, RETENTION, variables)
        assert result["errors"]
        assert not result.get("data")
        assert ledger_reads(sql) == []


@pytest.mark.django_db
def test_max_days_setting(staff_client: Client) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"MAX_DAYS": 30}):
        result = gql(staff_client, "{ activeUsers { powerUsers(days: 31) { users } } }")
        assert "between 1 and 30" in result["errors"][0]["message"]
        result = gql(
            staff_client,
            '{ activeUsers { retention(start: "2026-01-01", end: "2026-01-31") { size } } }',
        )
        assert "more than 30" in result["errors"][0]["message"]


# -- staff only, through every door -----------------------------------------------------------

DOCUMENTS = [
    '{ activeUsers { retention(start: "2026-05-01", end: "2026-06-30") { size retained } } }',
    '{ activeUsers(kind: "transaction") { lifecycle(start: "2026-05-01", end: "2026-06-30",'
    " period: MONTH) { new dormant quickRatio } } }",
    "{ activeUsers { powerUsers { days users } } }",
    "{ a: activeUsers { ...G } } fragment G on ActiveUsers { p: powerUsers(days: 7) { users } }",
]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SchemaSpy:
    """The analytics functions the fields call."""
    return SchemaSpy(monkeypatch, ("get_retention", "get_lifecycle", "get_power_users"))


def client_for(who: str) -> Client:
    client = Client()
    if who == "anonymous":
        return client
    user = User.objects.create_user(who, password="pw", is_staff=who != "member")
    client.force_login(user)
    if who == "inactive-staff":
        User.objects.filter(pk=user.pk).update(is_active=False)
    return client


def assert_refused(payload: dict[str, Any]) -> None:
    assert [e["message"] for e in payload["errors"]] == [DENIED], payload
    assert not payload.get("data")


@pytest.mark.django_db
@pytest.mark.urls("tests.test_security")
@pytest.mark.parametrize("who", ["anonymous", "member", "inactive-staff"])
def test_sync_doors_refuse(who: str, spy: SchemaSpy, sql: list[str]) -> None:
    population()
    client = client_for(who)
    sql.clear()
    for document in DOCUMENTS:
        assert_refused(post(client, {"query": document}))
    payloads = post(client, [{"query": d} for d in DOCUMENTS], "/graphql-batch/")
    assert len(payloads) == len(DOCUMENTS)
    for payload in payloads:
        assert_refused(payload)
    assert spy.calls == []
    assert ledger_reads(sql) == []


@pytest.mark.django_db
@pytest.mark.urls("tests.test_security")
def test_sync_doors_admit_staff(spy: SchemaSpy) -> None:
    population()
    client = client_for("staff")
    for document in DOCUMENTS:
        assert "errors" not in post(client, {"query": document})
    payloads = post(client, [{"query": d} for d in DOCUMENTS], "/graphql-batch/")
    assert all("errors" not in p for p in payloads)
    assert any(c["size"] for c in payloads[0]["data"]["activeUsers"]["retention"])
    assert sorted(set(spy.calls)) == ["get_lifecycle", "get_power_users", "get_retention"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.test_security")
@pytest.mark.parametrize("url", ["/graphql-async/", "/graphql-async-batch/"])
@pytest.mark.parametrize("who", ["anonymous", "member", "staff"])
async def test_async_doors(who: str, url: str, spy: SchemaSpy) -> None:
    try:
        await sync_to_async(population)()
        client = AsyncClient()
        if who != "anonymous":
            user = await sync_to_async(User.objects.create_user)(
                who, password="pw", is_staff=who == "staff"
            )
            await sync_to_async(client.force_login)(user)
        batch = url.endswith("-batch/")
        body: Any = [{"query": d} for d in DOCUMENTS] if batch else {"query": DOCUMENTS[0]}
        response = await client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code == 200
        payloads = response.json() if batch else [response.json()]
        if who == "staff":
            assert all("errors" not in p for p in payloads), payloads
            cohorts = await sync_to_async(get_retention)(date(2026, 5, 1), date(2026, 6, 30))
            assert payloads[0]["data"]["activeUsers"]["retention"] == [
                {"size": c.size, "retained": list(c.retained)} for c in cohorts
            ]
            assert spy.calls
        else:
            for payload in payloads:
                assert_refused(payload)
            assert spy.calls == []
    finally:
        await sync_to_async(connections.close_all)()
