"""The management commands: activity_metrics and backfill_last_activity (SPEC §8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity.metrics import get_activity_metrics
from strawberry_activity.models import ActivityDay, UserActivity
from strawberry_activity.testing import MEMORY_BACKEND
from tests.testapp.models import Message, Transfer, User

pytestmark = pytest.mark.django_db

SOURCES = [
    {"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
    {"model": "testapp.Message", "user_field": "author", "timestamp_field": "created_at"},
]
WITH_SOURCES = {"ACTIVITY_SOURCES": SOURCES}
USER_FIELD = {"ACTIVITY_SOURCES": SOURCES, "USER_FIELD": "last_activity_at"}
MODES = {"table": WITH_SOURCES, "user_field": USER_FIELD}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(STRAWBERRY_ACTIVITY=MODES[request.param]):
        yield request.param


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def store(user: User, ts: datetime, mode: str, kind: str = "default") -> None:
    """Stored activity written directly, as tracking would have left it."""
    if mode == "user_field" and kind == "default":
        User.objects.filter(pk=user.pk).update(last_activity_at=ts)
    else:
        UserActivity.objects.update_or_create(
            user=user, kind=kind, defaults={"last_activity_at": ts}
        )


def stored(mode: str) -> dict[int, datetime]:
    if mode == "user_field":
        return dict(
            User.objects.filter(last_activity_at__isnull=False).values_list(
                "pk", "last_activity_at"
            )
        )
    return dict(
        UserActivity.objects.filter(kind="default").values_list("user_id", "last_activity_at")
    )


def population(now: datetime, mode: str) -> dict[str, list[User]]:
    """Users in every situation, away from window boundaries (so now can move a little)."""
    groups: dict[str, list[User]] = {"fresh": [], "stale": [], "never": [], "old": []}
    for i in range(6):
        u = User.objects.create(username=f"fresh{i}")
        Transfer.objects.create(sender=u, created_at=now - timedelta(hours=2 + 30 * i))
        store(u, now - timedelta(hours=2 + 30 * i), mode)
        groups["fresh"].append(u)
    for i in range(3):
        # Source activity 2 days ago, stored 10 days ago: tracking missed it.
        u = User.objects.create(username=f"stale{i}")
        Message.objects.create(author=u, created_at=now - timedelta(days=2, hours=i))
        store(u, now - timedelta(days=10), mode)
        groups["stale"].append(u)
    u = User.objects.create(username="sources-only")
    Transfer.objects.create(sender=u, created_at=now - timedelta(days=3))
    groups["stale"].append(u)
    for i in range(4):
        groups["never"].append(User.objects.create(username=f"never{i}"))
    u = User.objects.create(username="old")
    store(u, now - timedelta(days=60), mode)
    groups["old"].append(u)
    return groups


# -- activity_metrics --------------------------------------------------------------------


def test_json_matches_get_activity_metrics(mode: str) -> None:
    population(timezone.now(), mode)
    out, _ = run("activity_metrics", "--format", "json")
    report = json.loads(out)
    expected = get_activity_metrics()
    assert report["version"] == 1
    assert report["kind"] == "default"
    assert set(report["metrics"]) == {
        "dau",
        "wau",
        "mau",
        "total_users",
        "dau_percentage",
        "wau_percentage",
        "mau_percentage",
        "stickiness",
    }
    for key, value in report["metrics"].items():
        assert value == expected[key], key
    assert datetime.fromisoformat(report["as_of"]) <= expected["as_of"]
    # Not vacuous: the data has users in and out of every window.
    assert 0 < expected["dau"] < expected["wau"] < expected["mau"] < expected["total_users"]


def test_json_of_every_section_parses() -> None:
    with override_settings(STRAWBERRY_ACTIVITY=WITH_SOURCES):
        population(timezone.now(), "table")
        Transfer.objects.all().delete()
        Message.objects.all().delete()
        out, _ = run(
            "activity_metrics", "--format", "json", "--detailed", "--validate", "--compare-methods"
        )
    report = json.loads(out)
    assert set(report) == {"version", "kind", "as_of", "metrics", "detailed", "validation",
                           "comparison"}  # fmt: skip
    assert set(report["detailed"]["windows"]) == {"1h", "24h", "7d", "30d", "90d"}
    assert report["validation"]["ok"] is True


def test_kind_option() -> None:
    now = timezone.now()
    a, b = User.objects.create(username="a"), User.objects.create(username="b")
    store(a, now - timedelta(hours=1), "table", kind="transaction")
    store(b, now - timedelta(hours=1), "table")
    out, _ = run("activity_metrics", "--format", "json", "--kind", "transaction")
    report = json.loads(out)
    assert report["kind"] == "transaction"
    assert report["metrics"]["dau"] == get_activity_metrics(kind="transaction")["dau"] == 1


def test_detailed(mode: str) -> None:
    now = timezone.now()
    groups = population(now, mode)
    out, _ = run("activity_metrics", "--format", "json", "--detailed")
    detailed = json.loads(out)["detailed"]
    # Oracle: each user's stored time, compared in Python.
    times = list(stored(mode).values())
    lengths = {"1h": 1 / 24, "24h": 1, "7d": 7, "30d": 30, "90d": 90}
    for name, days in lengths.items():
        assert detailed["windows"][name] == sum(t >= now - timedelta(days=days) for t in times)
    total = User.objects.count()
    assert detailed["never_active"] == total - len(times) == len(groups["never"]) + 1
    assert detailed["coverage"] == round(100 * len(times) / total, 2)
    table, _ = run("activity_metrics", "--detailed")
    assert "Never active" in table
    assert "90d" in table


def test_validate_fails_on_stale_users(mode: str) -> None:
    groups = population(timezone.now(), mode)
    with pytest.raises(CommandError, match="4 stale users") as failure:
        run("activity_metrics", "--validate")
    assert failure.value.returncode == 1
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("activity_metrics", "--validate", "--format", "json", stdout=out)
    validation = json.loads(out.getvalue())["validation"]
    assert validation["ok"] is False
    assert validation["stale_users"] == len(groups["stale"])
    assert validation["stale_sample"] == [str(pk) for pk in sorted(u.pk for u in groups["stale"])]


def test_validate_passes_once_backfilled(mode: str) -> None:
    population(timezone.now(), mode)
    run("backfill_last_activity")
    out, _ = run("activity_metrics", "--validate")
    assert "passed" in out


def test_validate_tolerates_the_cooldown(mode: str) -> None:
    now = timezone.now()
    u = User.objects.create(username="u")
    # Tracking may skip writes within the cooldown: 200s behind the source is fine...
    Transfer.objects.create(sender=u, created_at=now - timedelta(hours=1))
    store(u, now - timedelta(hours=1, seconds=200), mode)
    run("activity_metrics", "--validate")
    # ... 400s behind is not.
    store(u, now - timedelta(hours=1, seconds=400), mode)
    with pytest.raises(CommandError, match="1 stale users"):
        run("activity_metrics", "--validate")


def test_validate_days_bounds_the_lookback(mode: str) -> None:
    now = timezone.now()
    u = User.objects.create(username="u")
    Transfer.objects.create(sender=u, created_at=now - timedelta(days=45))
    run("activity_metrics", "--validate")  # default: the last 30 days
    with pytest.raises(CommandError, match="1 stale users"):
        run("activity_metrics", "--validate", "--days", "60")


def test_validate_min_coverage() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={}):
        now = timezone.now()
        a = User.objects.create(username="a")
        User.objects.create(username="b")
        store(a, now, "table")
        out, _ = run("activity_metrics", "--validate", "--min-coverage", "50")
        assert "n/a" in out  # no sources: coverage only
        with pytest.raises(CommandError, match=r"coverage 50\.0% is below"):
            run("activity_metrics", "--validate", "--min-coverage", "50.5")


def test_compare_methods(mode: str) -> None:
    now = timezone.now()
    population(now, mode)
    out, _ = run("activity_metrics", "--compare-methods", "--format", "json")
    comparison = json.loads(out)["comparison"]
    # The old method, brute force: users with a source row in each window.
    rows = [(t.sender_id, t.created_at) for t in Transfer.objects.all()]
    rows += [(m.author_id, m.created_at) for m in Message.objects.all()]
    metrics = get_activity_metrics()
    for name, days in {"dau": 1, "wau": 7, "mau": 30}.items():
        old = len({pk for pk, ts in rows if ts >= now - timedelta(days=days)})
        assert comparison["sources"][name] == old
        assert comparison["stored"][name] == metrics[name]
        assert comparison["difference"][name] == metrics[name] - old
    assert comparison["difference"]["wau"] != 0  # the stale users make them differ
    table, _ = run("activity_metrics", "--compare-methods")
    assert "stored" in table
    assert "sources" in table
    assert "difference" in table
    section = table.split("Stored vs source tables")[1]
    wau = next(line for line in section.splitlines() if line.strip().startswith("WAU"))
    assert wau.split()[1:] == [
        f"{comparison['stored']['wau']:,}",
        f"{comparison['sources']['wau']:,}",
        f"{comparison['difference']['wau']:+,}",
    ]


def test_compare_methods_needs_sources() -> None:
    with pytest.raises(CommandError, match="ACTIVITY_SOURCES") as failure:
        run("activity_metrics", "--compare-methods")
    assert failure.value.returncode == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", ""), "--kind"),
        (("--days", "0"), "--days"),
        (("--min-coverage", "101"), "--min-coverage"),
    ],
)
def test_bad_options(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message) as failure:
        run("activity_metrics", *args)
    assert failure.value.returncode == 2


def test_table_output() -> None:
    now = timezone.now()
    u = User.objects.create(username="u")
    User.objects.create(username="v")
    store(u, now - timedelta(hours=3), "table")
    out, _ = run("activity_metrics")
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert lines["DAU"] == ["1", "50.00%"]
    assert lines["MAU"] == ["1", "50.00%"]


def exit_status(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """The process exit status of ``manage.py *argv``, run in-process."""
    # run_from_argv closes every connection when done: keep the test's transaction open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    try:
        ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def test_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(STRAWBERRY_ACTIVITY=WITH_SOURCES):
        population(timezone.now(), "table")
        assert exit_status(monkeypatch, "activity_metrics") == 0
        assert exit_status(monkeypatch, "activity_metrics", "--validate") == 1
        assert "Validation failed: 4 stale users" in capsys.readouterr().err
        assert exit_status(monkeypatch, "activity_metrics", "--days", "0") == 2
        assert exit_status(monkeypatch, "activity_metrics", "--format", "xml") == 2
        run("backfill_last_activity")
        assert exit_status(monkeypatch, "activity_metrics", "--validate") == 0


def test_validate_needs_the_db_backend() -> None:
    memory = {**WITH_SOURCES, "BACKEND": MEMORY_BACKEND}
    with override_settings(STRAWBERRY_ACTIVITY=memory):
        with pytest.raises(CommandError, match="need the db backend") as failure:
            run("activity_metrics", "--validate")
        assert failure.value.returncode == 2
        # Everything else works with any backend.
        report = json.loads(run("activity_metrics", "--detailed", "--format", "json")[0])
        assert report["detailed"]["never_active"] == 0


# -- backfill_last_activity ----------------------------------------------------------------


def sources_population(now: datetime, n: int, offset: int = 0) -> dict[int, datetime]:
    """n users with source rows, some older than 100 days; their newest row within 100."""
    expected: dict[int, datetime] = {}
    for i in range(n):
        u = User.objects.create(username=f"s{offset + i}")
        t1 = now - timedelta(days=(7 * i) % 97, hours=1)
        t2 = now - timedelta(days=(5 * i) % 89, hours=3)
        Transfer.objects.create(sender=u, created_at=t1)
        Message.objects.create(author=u, created_at=t2)
        Transfer.objects.create(sender=u, created_at=now - timedelta(days=150))
        expected[u.pk] = max(t1, t2)
    return expected


def test_backfill_sets_latest_within_days(mode: str) -> None:
    now = timezone.now()
    expected = sources_population(now, 8)
    # Only sources older than --days: not touched.
    ancient = User.objects.create(username="ancient")
    Transfer.objects.create(sender=ancient, created_at=now - timedelta(days=150))
    out, err = run("backfill_last_activity", "--days", "100")
    assert stored(mode) == expected
    assert "8 had their last activity raised" in out
    assert "batch 1" in err


def test_backfill_never_lowers_a_newer_timestamp(mode: str) -> None:
    now = timezone.now()
    expected = sources_population(now, 5)
    first = next(iter(expected))
    newer = now + timedelta(seconds=1)
    store(User.objects.get(pk=first), newer, mode)
    run("backfill_last_activity")
    assert stored(mode) == {**expected, first: newer}


def test_backfill_twice_changes_nothing(mode: str) -> None:
    sources_population(timezone.now(), 6)
    run("backfill_last_activity")
    before = (stored(mode), set(ActivityDay.objects.values_list("user_id", "kind", "day")))
    out, _ = run("backfill_last_activity")
    assert "0 had their last activity raised" in out
    assert "0 ledger days added" in out
    assert (stored(mode), set(ActivityDay.objects.values_list("user_id", "kind", "day"))) == before


def test_backfill_dry_run_writes_nothing(mode: str) -> None:
    sources_population(timezone.now(), 4)
    before = stored(mode)
    out, _ = run("backfill_last_activity", "--dry-run")
    assert "4 would have their last activity raised" in out
    assert "nothing written" in out
    assert stored(mode) == before
    assert not ActivityDay.objects.exists()


def test_backfill_kind() -> None:
    with override_settings(STRAWBERRY_ACTIVITY=WITH_SOURCES):
        expected = sources_population(timezone.now(), 3)
        run("backfill_last_activity", "--kind", "transaction")
    assert not UserActivity.objects.filter(kind="default").exists()
    rows = UserActivity.objects.filter(kind="transaction")
    assert dict(rows.values_list("user_id", "last_activity_at")) == expected


def count_statements(n: int, offset: int, *args: str) -> int:
    sources_population(timezone.now(), n, offset)
    with CaptureQueriesContext(connection) as ctx:
        run("backfill_last_activity", *args)
    return len(ctx.captured_queries)


def test_backfill_statements_do_not_grow_with_users(mode: str) -> None:
    small = count_statements(3, 0)
    UserActivity.objects.all().delete()
    User.objects.update(last_activity_at=None)
    large = count_statements(60, 100)
    assert large == small
    # With batches, statements grow with the batches (users / batch size), by a fixed
    # number per batch. 63 users: 4 batches of 21 (the last one empty), 8 of 9.
    by_21 = count_statements(0, 1000, "--batch-size", "21")
    by_9 = count_statements(0, 1000, "--batch-size", "9")
    per_batch, remainder = divmod(by_21 - small, 3)
    assert per_batch > 0
    assert remainder == 0
    assert by_9 == small + 7 * per_batch


def test_backfill_progress_per_batch() -> None:
    with override_settings(STRAWBERRY_ACTIVITY=WITH_SOURCES):
        sources_population(timezone.now(), 7)
        _, err = run("backfill_last_activity", "--batch-size", "3")
        _, quiet = run("backfill_last_activity", "--verbosity", "0")
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["batch 1", "batch 2", "batch 3"]
    assert "3/7 users" in lines[0]
    assert "7/7 users (100%)" in lines[-1]
    assert quiet == ""


@pytest.mark.parametrize("args", [("--days", "0"), ("--batch-size", "0"), ("--kind", "x" * 40)])
def test_backfill_bad_options(args: tuple[str, ...]) -> None:
    with override_settings(STRAWBERRY_ACTIVITY=WITH_SOURCES), pytest.raises(CommandError):
        run("backfill_last_activity", *args)


def test_backfill_needs_sources() -> None:
    with pytest.raises(CommandError, match="ACTIVITY_SOURCES is empty") as failure:
        run("backfill_last_activity")
    assert failure.value.returncode == 2
