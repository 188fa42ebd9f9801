"""The admin: read-only activity tables and the staff dashboard (issue 3, issue 5)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from strawberry_activity.admin import CHART_DAYS, build_chart, local_today, nice_ceiling
from strawberry_activity.metrics import (
    get_activity_metrics,
    get_activity_series,
    get_stickiness_series,
)
from strawberry_activity.models import ActivityDay, UserActivity
from tests.html import DASHBOARD, Element, elements, viewer
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def chart_points(page: list[Element], metric: str) -> list[tuple[str, str]]:
    return [
        (a["data-date"], a["data-value"])
        for tag, a in page
        if tag == "circle" and a.get("data-metric") == metric
    ]


def cards(page: list[Element]) -> dict[str, str]:
    return {
        a["data-metric"]: a["data-value"] for tag, a in page if tag == "div" and "data-value" in a
    }


@pytest.fixture
def history() -> list[User]:
    """40 users with random activity over the last 100 days, both kinds, some never."""
    rng = random.Random(5)
    now = timezone.now()
    today = local_today()
    users = [User.objects.create(username=f"member{i}") for i in range(40)]
    days, latest = [], []
    for user in users[:34]:
        active = sorted(rng.sample(range(100), rng.randint(1, 25)))
        for kind, offsets in (("default", active), ("transaction", active[::3])):
            days += [ActivityDay(user=user, kind=kind, day=today - timedelta(o)) for o in offsets]
            latest.append(
                UserActivity(
                    user=user,
                    kind=kind,
                    last_activity_at=now - timedelta(days=offsets[0], hours=rng.random()),
                )
            )
    ActivityDay.objects.bulk_create(days)
    UserActivity.objects.bulk_create(latest)
    return users


@pytest.fixture
def staff_client(staff: User) -> Client:
    return viewer(staff)


@pytest.mark.parametrize("kind", ["default", "transaction"])
def test_dashboard_shows_what_the_api_returns(
    staff_client: Client, history: list[User], kind: str
) -> None:
    response = staff_client.get(DASHBOARD, {"kind": kind})
    assert response.status_code == 200
    page = elements(response.content)

    metrics = get_activity_metrics(kind=kind)
    assert metrics["mau"] > 0
    shown = cards(page)
    for name in ("dau", "wau", "mau", "stickiness"):
        assert shown[name] == str(metrics[name]), name
    assert f"{metrics['mau_percentage']}% of" in response.content.decode()

    end = local_today()
    start = end - timedelta(days=CHART_DAYS - 1)
    for name in ("dau", "wau", "mau"):
        expected = [
            (d.isoformat(), str(v)) for d, v in get_activity_series(name, start, end, kind=kind)
        ]
        assert len(expected) == CHART_DAYS
        assert chart_points(page, name) == expected, name
    stickiness = get_stickiness_series(start, end, kind=kind)
    assert chart_points(page, "stickiness") == [(d.isoformat(), str(v)) for d, v in stickiness]


def test_kind_selector_lists_each_kind(staff_client: Client, history: list[User]) -> None:
    page = elements(staff_client.get(DASHBOARD).content)
    kinds = [a["data-kind"] for tag, a in page if tag == "a" and "data-kind" in a]
    assert kinds == ["default", "transaction"]
    assert staff_client.get(DASHBOARD, {"kind": "nope"}).status_code == 404


def test_dashboard_refuses_anonymous_and_non_staff(user: User, history: list[User]) -> None:
    client = Client()
    login = reverse("admin:login")
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(login)
    client.force_login(user)  # logged in, not staff
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith(login)
    assert b"data-value" not in response.content


def test_dashboard_needs_view_permission(staff: User, history: list[User]) -> None:
    client = Client()
    client.force_login(staff)  # staff, but may not view activity
    assert client.get(DASHBOARD).status_code == 403
    assert DASHBOARD not in client.get("/admin/").content.decode()
    # The change permission implies the view permission, as for any model.
    staff.user_permissions.add(Permission.objects.get(codename="change_useractivity"))
    client.force_login(User.objects.get(pk=staff.pk))  # a fresh permission cache
    assert client.get(DASHBOARD).status_code == 200


def test_admin_index_links_to_the_dashboard(staff_client: Client) -> None:
    assert reverse("admin:strawberry_activity_dashboard") == DASHBOARD
    index = staff_client.get("/admin/")
    assert f'href="{DASHBOARD}"' in index.content.decode()
    (app,) = [a for a in index.context["app_list"] if a["app_label"] == "strawberry_activity"]
    row = next(m for m in app["models"] if m["admin_url"] == DASHBOARD)
    assert row["name"] == "Activity dashboard"
    assert row["perms"] == {"add": False, "change": False, "delete": False, "view": True}
    assert row["add_url"] is None
    app_index = staff_client.get("/admin/strawberry_activity/").content.decode()
    assert f'href="{DASHBOARD}"' in app_index
    # A model row like the others: the site's own get_app_list, nothing patched onto it.
    assert "get_app_list" not in vars(admin.site)


def test_the_dashboard_has_no_objects(admin_client: Client) -> None:
    """A proxy with no table of its own: a changelist, no add, change, delete or history
    page, and no permissions to grant."""
    for page in ("add/", "1/change/", "1/delete/", "1/history/", "1/"):
        assert admin_client.get(f"{DASHBOARD}{page}").status_code == 404, page
    assert admin_client.post(DASHBOARD, {"action": "delete_selected"}).status_code == 200
    assert not Permission.objects.filter(codename__endswith="activitydashboard").exists()


def test_the_first_address_redirects(staff_client: Client, staff: User) -> None:
    old = "/admin/strawberry_activity/useractivity/dashboard/"
    response = staff_client.get(old, {"kind": "transaction", "period": "month"})
    assert response.status_code == 302
    assert response["Location"] == f"{DASHBOARD}?kind=transaction&period=month"
    assert staff_client.get(old)["Location"] == DASHBOARD
    # Refused as the dashboard is: the login page, or 403 without the permission.
    assert Client().get(old)["Location"].startswith(reverse("admin:login"))
    staff.user_permissions.clear()
    client = Client()
    client.force_login(staff)
    assert client.get(old).status_code == 403


def test_tables_are_read_only(admin_client: Client, history: list[User]) -> None:
    row = UserActivity.objects.first()
    assert row is not None
    base = "/admin/strawberry_activity/useractivity/"
    listing = admin_client.get(base)
    assert listing.status_code == 200
    assert f'href="{DASHBOARD}"' in listing.content.decode()
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{base}{row.pk}/change/").status_code == 200  # a view page
    assert admin_client.post(f"{base}{row.pk}/change/", {"kind": "x"}).status_code == 403
    assert UserActivity.objects.filter(pk=row.pk, kind=row.kind).exists()


@pytest.mark.parametrize(("value", "days"), [("1", 1), ("7", 7), ("30", 30), ("older", None)])
def test_recency_filter(admin_client: Client, history: list[User], value: str, days: Any) -> None:
    response = admin_client.get("/admin/strawberry_activity/useractivity/", {"active": value})
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    now = timezone.now()
    rows = UserActivity.objects.all()
    if days is None:
        expected = {r.pk for r in rows if r.last_activity_at < now - timedelta(days=30)}
    else:
        expected = {r.pk for r in rows if r.last_activity_at >= now - timedelta(days=days)}
    assert expected
    assert shown == expected


def test_day_filter_and_user_search(admin_client: Client, history: list[User]) -> None:
    url = "/admin/strawberry_activity/activityday/"
    response = admin_client.get(url, {"active": "7", "q": "member3"})
    assert response.status_code == 200
    shown = {(r.user.username, r.day) for r in response.context["cl"].result_list}
    first = local_today() - timedelta(days=6)
    expected = {
        (r.user.username, r.day)
        for r in ActivityDay.objects.select_related("user")
        if r.day >= first and "member3" in r.user.username
    }
    assert expected
    assert shown == expected


def test_chart_scales_to_a_round_maximum() -> None:
    assert nice_ceiling(0) == (1.0, 0.25)
    top, step = nice_ceiling(1419)
    assert top >= 1419
    assert top - step < 1419
    today = local_today()
    chart = build_chart({"mau": [(today, 0), (today + timedelta(1), 10)]})
    low, high = (p["y"] for p in chart["lines"][0]["points"])
    assert low == chart["bottom"]
    assert high >= chart["top"]
