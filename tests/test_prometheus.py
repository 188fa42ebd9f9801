"""strawberry_activity.prometheus (SPEC §11): the scrape view, its gauges and its access rules.

Two parts: the view in-process (Django's test client), and the view as users run it: a
real gunicorn on a loopback port, with 2 workers and ``PROMETHEUS_MULTIPROC_DIR`` set (and
with 1 worker without it), scraped over HTTP and parsed with prometheus_client's parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from strawberry.permission import BasePermission

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families

from strawberry_activity import counters, get_activity_metrics, touch_last_activity
from strawberry_activity.checks import check_settings
from strawberry_activity.conf import activity_settings
from tests.testapp.models import User

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-scrape-token"
URL = "/metrics/activity/"
WINDOWS = {"dau": "1d", "wau": "7d", "mau": "30d"}
SITE = {
    "MUTATION_KINDS": {"sendMoney": "transaction"},
    "PROMETHEUS_TOKEN": TOKEN,
}


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """``{sample name: {sorted labels: value}}`` from the Prometheus text format."""
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def gauges_of(samples: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The scrape's numbers in ``get_activity_metrics``' shape, per kind."""
    result: dict[str, dict[str, Any]] = {}
    for labels, value in samples["strawberry_activity_active_users"].items():
        label = dict(labels)
        metric = next(k for k, w in WINDOWS.items() if w == label["window"])
        result.setdefault(label["kind"], {})[metric] = int(value)
    for labels, value in samples["strawberry_activity_stickiness"].items():
        result[dict(labels)["kind"]]["stickiness"] = value
    (total,) = samples["strawberry_activity_users_total"].values()
    for numbers in result.values():
        numbers["total_users"] = int(total)
    return result


def expected_of(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = ("dau", "wau", "mau", "stickiness", "total_users")
    return {kind: {key: numbers[key] for key in keys} for kind, numbers in metrics.items()}


# -- in-process ------------------------------------------------------------------------------


@pytest.fixture
def site() -> Iterator[None]:
    with override_settings(ROOT_URLCONF="tests.prometheus_site.urls", STRAWBERRY_ACTIVITY=SITE):
        yield


def population() -> None:
    now = timezone.now()
    for i, hours in enumerate([2, 30, 100, 400, 900, 2000]):
        user = User.objects.create_user(f"user{i}", password="pw")
        touch_last_activity(user, ts=now - timedelta(hours=hours), force=True)
        if i % 2 == 0:
            touch_last_activity(
                user, ts=now - timedelta(hours=hours), force=True, kind="transaction"
            )
    touch_last_activity(User.objects.get(username="user1"), force=True, kind="export")


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_the_gauges_are_get_activity_metrics_for_every_kind() -> None:
    population()
    response = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.content.decode())
    kinds = ["default", "export", "transaction"]  # default, MUTATION_KINDS, stored
    assert gauges_of(samples) == expected_of({k: get_activity_metrics(kind=k) for k in kinds})
    assert samples["strawberry_activity_metrics_up"] == {(): 1.0}


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_without_activity_the_configured_kinds_are_zero() -> None:
    User.objects.create_user("nobody")
    samples = parse(Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).text)
    zero = {"dau": 0, "wau": 0, "mau": 0, "stickiness": 0.0, "total_users": 1}
    assert gauges_of(samples) == {"default": zero, "transaction": zero}


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_who_may_scrape() -> None:
    User.objects.create_user("member", password="pw")
    User.objects.create_user("staff", password="pw", is_staff=True)
    User.objects.create_user("gone", password="pw", is_staff=True, is_active=False)

    def status(client: Client, authorization: str | None = None) -> int:
        headers = {"Authorization": authorization} if authorization else {}
        return client.get(URL, headers=headers).status_code

    anonymous = Client()
    assert status(anonymous) == 403
    assert status(anonymous, f"Bearer {TOKEN}") == 200
    assert status(anonymous, f"bearer {TOKEN}") == 200
    assert status(anonymous, "Bearer wrong") == 403
    assert status(anonymous, f"Bearer {TOKEN}x") == 403
    assert status(anonymous, f"Basic {TOKEN}") == 403
    assert status(anonymous, "Bearer ") == 403
    member = Client()
    member.login(username="member", password="pw")
    assert status(member) == 403
    staff = Client()
    staff.login(username="staff", password="pw")
    assert status(staff) == 200
    # A wrong token grants nothing, and takes nothing from a staff session.
    assert status(staff, "Bearer wrong") == 200
    # Scrapers do not POST.
    assert Client().post(URL, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


@pytest.mark.django_db
def test_no_token_configured_means_sessions_only() -> None:
    User.objects.create_user("staff", password="pw", is_staff=True)
    with override_settings(ROOT_URLCONF="tests.prometheus_site.urls", STRAWBERRY_ACTIVITY={}):
        assert activity_settings.PROMETHEUS_TOKEN is None
        for header in ("Bearer None", "Bearer ", "Bearer null"):
            assert Client().get(URL, headers={"Authorization": header}).status_code == 403
        staff = Client()
        staff.login(username="staff", password="pw")
        assert staff.get(URL).status_code == 200


@pytest.mark.django_db
def test_metrics_permission_decides_for_sessions() -> None:
    User.objects.create_user("staff", password="pw", is_staff=True)
    User.objects.create_user("root", password="pw", is_staff=True, is_superuser=True)
    settings = {**SITE, "METRICS_PERMISSION": "strawberry_activity.permissions.IsSuperuser"}
    with override_settings(ROOT_URLCONF="tests.prometheus_site.urls", STRAWBERRY_ACTIVITY=settings):
        staff, root = Client(), Client()
        staff.login(username="staff", password="pw")
        root.login(username="root", password="pw")
        assert staff.get(URL).status_code == 403
        assert root.get(URL).status_code == 200


class AsyncStaff(BasePermission):
    """An ``async def has_permission``, as Strawberry allows."""

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return bool(info.context.request.user.is_staff)


class ReadsTheField(BasePermission):
    """A permission written for GraphQL only: it reads ``info.field_name``."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return bool(info.field_name == "activeUsers")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("permission", "staff_status"), [("AsyncStaff", 200), ("ReadsTheField", 403)]
)
def test_metrics_permission_async_or_graphql_only(
    permission: str, staff_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    User.objects.create_user("staff", password="pw", is_staff=True)
    User.objects.create_user("member", password="pw")
    settings = {**SITE, "METRICS_PERMISSION": f"tests.test_prometheus.{permission}"}
    with override_settings(ROOT_URLCONF="tests.prometheus_site.urls", STRAWBERRY_ACTIVITY=settings):
        staff, member = Client(), Client()
        staff.login(username="staff", password="pw")
        member.login(username="member", password="pw")
        assert staff.get(URL).status_code == staff_status
        assert member.get(URL).status_code == 403
    if permission == "ReadsTheField":
        assert "METRICS_PERMISSION failed on a scrape" in caplog.text


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_a_failure_to_compute_is_metrics_up_0_and_the_counters_still_get_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters.count_failure("record activity", ConnectionError("db down"))
    with mock.patch(
        "strawberry_activity.metrics.get_activity_metrics", side_effect=RuntimeError("db down")
    ):
        response = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    samples = parse(response.text)
    assert samples["strawberry_activity_metrics_up"] == {(): 0.0}
    assert "strawberry_activity_active_users" not in samples
    failures = samples["strawberry_activity_tracking_failures_total"]
    assert failures[(("cause", "record activity"), ("exception", "ConnectionError"))] >= 1
    assert "could not compute the activity metrics" in caplog.text


@pytest.mark.django_db
def test_metrics_cache_seconds_covers_the_kinds_and_the_numbers(
    django_assert_num_queries: Any,
) -> None:
    population()
    settings = {**SITE, "METRICS_CACHE_SECONDS": 60}
    with override_settings(ROOT_URLCONF="tests.prometheus_site.urls", STRAWBERRY_ACTIVITY=settings):
        client = Client(headers={"Authorization": f"Bearer {TOKEN}"})
        first = parse(client.get(URL).text)
        with django_assert_num_queries(0):
            again = parse(client.get(URL).text)
    assert gauges_of(again) == gauges_of(first)


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_openmetrics_when_the_scraper_asks() -> None:
    population()
    response = Client().get(
        URL,
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/openmetrics-text; version=1.0.0,text/plain;q=0.5",
        },
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "strawberry_activity_users_total 6.0" in response.text


@pytest.mark.django_db
@pytest.mark.usefixtures("site")
def test_no_user_id_in_any_label() -> None:
    # Counters are per process: earlier tests' kinds (some drawn at random) could be
    # any string, a user's id or name included.
    counters.reset()
    population()
    counters.count_write("default", True)
    counters.count_cooldown_hit("shared")
    counters.count_failure("reach the cooldown cache", TimeoutError())
    text = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).text
    names = {"window", "kind", "tier", "cause", "exception"}
    ours = [
        sample
        for family in text_string_to_metric_families(text)
        if family.name.startswith("strawberry_activity_")
        for sample in family.samples
    ]
    assert ours
    for sample in ours:
        assert set(sample.labels) <= names, sample
    ids = {str(pk) for pk in User.objects.values_list("pk", flat=True)}
    usernames = set(User.objects.values_list("username", flat=True))
    values = {v for sample in ours for v in sample.labels.values()}
    assert not values & (ids | usernames)


def test_counters_keep_totals_per_label() -> None:
    counters.reset()
    counters.count_write("default", True)
    counters.count_write("default", True)
    counters.count_write("transaction", False)
    counters.count_cooldown_hit("shared")
    counters.count_failure("record activity", TimeoutError())
    assert counters.snapshot() == {
        "strawberry_activity_writes": {("default",): 2},
        "strawberry_activity_cooldown_hits": {("database",): 1, ("shared",): 1},
        "strawberry_activity_tracking_failures": {("record activity", "TimeoutError"): 1},
    }


@pytest.mark.parametrize("value", ["", "   ", 123, b"bytes"])
def test_a_bad_token_is_a_check_error(value: Any) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"PROMETHEUS_TOKEN": value}):
        errors = [e for e in check_settings() if e.id == "strawberry_activity.E023"]
    assert len(errors) == 1
    assert "PROMETHEUS_TOKEN" in errors[0].msg


def test_a_token_passes_the_checks() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"PROMETHEUS_TOKEN": "x" * 32}):
        assert [e.id for e in check_settings() if "PROMETHEUS" in e.msg] == []
    call_command("check")


# -- under a real gunicorn --------------------------------------------------------------------


@pytest.fixture
def site_database(tmp_path: Path) -> Iterator[str]:
    """The site's own database: a SQLite file, or on the PostgreSQL stack a PostgreSQL
    database of its own (created and dropped here)."""
    url = os.environ.get("DATABASE_URL")
    if not url or os.environ.get("STRAWBERRY_ACTIVITY_TEST_STACK") == "sqlite":
        yield str(tmp_path / "site.sqlite3")
        return
    import psycopg

    name = f"{os.environ.get('TEST_DATABASE_NAME', 'test_strawberry_activity')}_prometheus"
    server = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def site_env(database: str, multiproc: Path | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.prometheus_site.settings",
        PROMETHEUS_SITE_DATABASE=database,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    if multiproc is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    return env


def run_populate(env: dict[str, str], *args: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.prometheus_site.populate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    numbers: dict[str, dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return numbers


@pytest.fixture(params=["multiprocess", "single-process"])
def gunicorn(request: pytest.FixtureRequest, site_database: str, tmp_path: Path) -> Iterator[Any]:
    """gunicorn serving the site: 2 workers + PROMETHEUS_MULTIPROC_DIR, or 1 worker without.

    Started the way ``python -m loadtest`` starts its servers (``loadtest.servers``)."""
    pytest.importorskip("gunicorn")
    import httpx

    from loadtest.servers import Server, free_port, stop_servers

    multi = request.param == "multiprocess"
    multiproc = tmp_path / "prometheus-multiproc" if multi else None
    if multiproc is not None:
        multiproc.mkdir()
    env = site_env(site_database, multiproc)
    expected = run_populate(env)
    port = free_port()
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "tests.prometheus_site.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2" if multi else "1",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server("gunicorn", port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}{URL}", timeout=2).status_code == 403:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer:\n{log.read_text()}")
            time.sleep(0.1)
        yield server, env, expected, multi
    finally:
        stop_servers([server])


def test_a_real_scrape_under_gunicorn(gunicorn: Any) -> None:
    import httpx

    server, env, populated, multi = gunicorn
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        # Access: nobody, a wrong token, a member's session: 403; the token, staff: 200.
        assert client.get(URL).status_code == 403
        assert client.get(URL, headers={"Authorization": "Bearer nope"}).status_code == 403
        for username, status in (("member", 403), ("staff", 200)):
            with httpx.Client(base_url=server.url, timeout=10) as browser:
                login = browser.post("/login/", data={"username": username, "password": "pw"})
                assert login.status_code == 200
                assert "sessionid" in browser.cookies
                assert browser.get(URL).status_code == status, username

        # Tracking failures counted in whichever worker answers: both workers take some.
        pids: list[str] = []
        while len(set(pids)) < (2 if multi else 1) or len(pids) < 6:
            # A connection per request (gunicorn's sync workers close it anyway).
            pids.append(client.get("/fail/", headers={"Connection": "close"}).text)
            assert len(pids) < 400, "gunicorn never used its second worker"

        # The two logins were activity: get_activity_metrics (in a process of its own) says so.
        expected = run_populate(env, "--expected")
        assert expected["default"]["dau"] == populated["default"]["dau"] + 2
        # Every scrape, whichever worker answers it, has the gauges and the summed counters.
        for _ in range(6):
            response = client.get(URL, headers={**auth, "Connection": "close"})
            assert response.status_code == 200, response.text
            samples = parse(response.text)
            assert gauges_of(samples) == expected_of(expected)
            assert samples["strawberry_activity_metrics_up"] == {(): 1.0}
            failures = samples["strawberry_activity_tracking_failures_total"]
            key = (("cause", "record activity"), ("exception", "TimeoutError"))
            assert failures[key] == len(pids)
    # And the numbers are still what get_activity_metrics says now.
    assert run_populate(env, "--expected") == expected
    assert "could not compute" not in server.log.read_text()


# -- the write path feeds the counters ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tracking_feeds_the_counters() -> None:
    from django.core.cache import caches
    from django.db import OperationalError

    from strawberry_activity import tracking

    user = User.objects.create_user("alice")
    counters.reset()
    with override_settings(STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "shared"}):
        assert touch_last_activity(user)  # a write
        tracking.reset()  # another process: the shared gate holds the window
        assert not touch_last_activity(user)
        tracking.reset()
        caches["shared"].clear()  # a cold cache: the database guard holds it
        assert not touch_last_activity(user)
        with mock.patch.object(
            tracking.tracker().backend, "write", side_effect=OperationalError("down")
        ):
            assert not touch_last_activity(user, force=True)
    assert counters.snapshot() == {
        "strawberry_activity_writes": {("default",): 1},
        "strawberry_activity_cooldown_hits": {("shared",): 1, ("database",): 1},
        "strawberry_activity_tracking_failures": {("record activity", "OperationalError"): 1},
    }
