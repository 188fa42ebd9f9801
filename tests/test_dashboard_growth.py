"""The dashboard's growth section (SPEC §10 in the admin): the retention triangle, the
lifecycle chart and the power-user histogram draw exactly what the API returns, for each
period, kind and range; the cards' "vs previous period" come from the series."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from strawberry_activity.admin import POWER_DAYS, build_histogram, build_lifecycle_chart
from strawberry_activity.metrics import (
    LifecyclePoint,
    default_range,
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    local_today,
)
from strawberry_activity.models import ActivityDay, UserActivity
from tests.html import DASHBOARD, Element, elements, viewer
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def retention_cells(page: list[Element]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for tag, a in page:
        if tag == "td" and "data-offset" in a:
            rows.setdefault(a["data-cohort"], []).append(int(a["data-count"]))
    return rows


def segments(page: list[Element]) -> dict[tuple[str, str], int]:
    return {
        (a["data-period"], a["data-status"]): int(a["data-value"])
        for tag, a in page
        if tag == "rect" and "data-status" in a
    }


@pytest.fixture
def ledger() -> None:
    rng = random.Random(3)
    today = local_today()
    users = User.objects.bulk_create([User(username=f"m{i}") for i in range(50)])
    rows = []
    for user in users:
        first = rng.randrange(200)
        for age in range(0, first + 1, rng.choice([1, 3, 8, 20])):
            day = today - timedelta(days=first - age)
            rows.append(ActivityDay(user=user, day=day))
            if rng.random() < 0.3:
                rows.append(ActivityDay(user=user, kind="transaction", day=day))
    ActivityDay.objects.bulk_create(rows)
    # The kind selector lists the kinds of the last-activity table.
    UserActivity.objects.create(user=users[0], kind="transaction", last_activity_at=timezone.now())


@pytest.fixture
def staff_client(staff: User) -> Client:
    return viewer(staff)


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("kind", ["default", "transaction"])
def test_growth_draws_the_api(staff_client: Client, ledger: None, period: str, kind: str) -> None:
    response = staff_client.get(DASHBOARD, {"kind": kind, "period": period})
    assert response.status_code == 200
    page = elements(response.content)
    start, end = default_range(period)
    cohorts = get_retention(start, end, period=period, kind=kind)
    assert retention_cells(page) == {c.start.isoformat(): list(c.retained) for c in cohorts}
    assert sum(c.size for c in cohorts) > 0
    points = get_lifecycle(start, end, period=period, kind=kind)
    expected = {
        (p.start.isoformat(), status): getattr(p, status)
        for p in points
        for status in ("new", "returning", "resurrecting", "dormant")
    }
    assert segments(page) == expected
    ratios = [
        (a["data-period"], float(a["data-value"]))
        for tag, a in page
        if tag == "circle" and "data-period" in a
    ]
    assert ratios == [(p.start.isoformat(), p.quick_ratio) for p in points if p.quick_ratio]
    bars = [(int(a["data-days"]), int(a["data-value"])) for tag, a in page if "data-days" in a]
    assert bars == list(get_power_users(days=POWER_DAYS, end=end, kind=kind).items())


def test_a_date_range(staff_client: Client, ledger: None) -> None:
    end = local_today() - timedelta(days=20)
    start = end - timedelta(days=100)
    response = staff_client.get(
        DASHBOARD, {"period": "week", "start": start.isoformat(), "end": end.isoformat()}
    )
    page = elements(response.content)
    cohorts = get_retention(start, end)
    assert retention_cells(page) == {c.start.isoformat(): list(c.retained) for c in cohorts}
    bars = [int(a["data-value"]) for tag, a in page if "data-days" in a]
    assert bars == list(get_power_users(days=POWER_DAYS, end=end).values())
    # The kind and period links keep the range.
    links = [
        a["href"] for tag, a in page if tag == "a" and ("data-kind" in a or "data-period" in a)
    ]
    assert all(f"start={start.isoformat()}" in link for link in links), links
    # The range form says what is shown.
    dates = {a["name"]: a["value"] for tag, a in page if tag == "input" and a.get("type") == "date"}
    assert dates == {"start": start.isoformat(), "end": end.isoformat()}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-03-01", "end": "2026-02-01"}, "before start"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "more than 366"),
        ({"start": "yesterday"}, "not a date"),
        ({"period": "year"}, "Unknown period"),
    ],
)
def test_bad_input_is_a_message_not_an_error(
    staff_client: Client, ledger: None, params: dict[str, str], message: str
) -> None:
    response = staff_client.get(DASHBOARD, params)
    assert response.status_code == 200
    content = response.content.decode()
    assert message in content
    # The default range is shown instead.
    start, end = default_range("week")
    page = elements(response.content)
    assert set(retention_cells(page)) == {c.start.isoformat() for c in get_retention(start, end)}


def test_changes_vs_previous_period(staff_client: Client, ledger: None) -> None:
    page = elements(staff_client.get(DASHBOARD).content)
    today = local_today()
    shown = [a for tag, a in page if "data-previous" in a]
    assert len(shown) == 3
    for a, (metric, window) in zip(shown, (("dau", 1), ("wau", 7), ("mau", 30)), strict=True):
        series = dict(get_activity_series(metric, today - timedelta(days=89), today))
        last = today - timedelta(days=1)
        current, previous = series[last], series[last - timedelta(days=window)]
        assert (int(a["data-current"]), int(a["data-previous"])) == (current, previous)
        change = round(100 * (current - previous) / previous, 1) if previous else None
        assert a["data-change"] == ("" if change is None else str(change))


def test_one_query_per_growth_chart(staff_client: Client, ledger: None) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        staff_client.get(DASHBOARD, {"period": "month"})
    ledger_reads = [q["sql"] for q in ctx.captured_queries if "activityday" in q["sql"]]
    # Three series (DAU, WAU, MAU), stickiness (DAU and MAU again), retention, lifecycle,
    # power users: one statement each.
    assert len(ledger_reads) == 3 + 2 + 3


def test_charts_keep_their_shape_without_data() -> None:
    chart = build_lifecycle_chart(
        [LifecyclePoint(date(2026, 6, 1), 0, 0, 0, 0, None)], "week", date(2026, 6, 3)
    )
    assert chart["line"] == []
    assert chart["bars"][0]["in_progress"]
    histogram = build_histogram(dict.fromkeys(range(1, 29), 0))
    assert [b["height"] for b in histogram["bars"]] == [0.0] * 28
    assert [t["label"] for t in histogram["x_ticks"]] == [1, 7, 14, 21, 28]
