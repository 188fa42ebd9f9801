"""Rollups (docs/scale.md): the same answers as the ledger, whatever changed it since.

Every test compares the answers with rollups (cold, then warm) to the answers counted from
the ledger alone (``ROLLUPS = False``) after a change: a backfill that adds past days, a
prune, a late write after midnight, a deleted user, a day across a DST change. The ledger
answers themselves are checked against an independent oracle in test_history /
test_analytics.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity import (
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    touch_last_activity,
)
from strawberry_activity.backends import get_backend, rollups
from strawberry_activity.models import ActivityDay, ActivityRollup
from strawberry_activity.periods import first_open_day, local_today
from strawberry_activity.testing import MEMORY_BACKEND
from tests.statements import reads, stored
from tests.test_analytics import make_users, random_ledger, store
from tests.testapp.models import Transfer, User

pytestmark = pytest.mark.django_db

TODAY = local_today()
START = TODAY - timedelta(days=150)


def calls(kind: str = "default") -> dict[str, Callable[[], Any]]:
    """Every history call, over days that are over and over ranges ending today."""
    yesterday = first_open_day() - timedelta(days=1)
    out: dict[str, Callable[[], Any]] = {}
    for metric in ("dau", "wau", "mau"):
        for end in (yesterday - timedelta(days=20), TODAY):
            out[f"{metric} to {end}"] = lambda m=metric, e=end: get_activity_series(
                m, e - timedelta(days=89), e, kind=kind
            )
    for period, start in (("day", TODAY - timedelta(days=40)), ("week", START), ("month", START)):
        for end in (yesterday - timedelta(days=20), TODAY):
            out[f"retention {period} to {end}"] = lambda p=period, s=start, e=end: get_retention(
                s, e, period=p, kind=kind
            )
            out[f"lifecycle {period} to {end}"] = lambda p=period, s=start, e=end: get_lifecycle(
                s, e, period=p, kind=kind
            )
    for days, end in ((7, yesterday), (28, yesterday - timedelta(days=3)), (28, TODAY)):
        out[f"power {days} to {end}"] = lambda d=days, e=end: get_power_users(
            days=d, end=e, kind=kind
        )
    return out


def from_ledger() -> dict[str, Any]:
    with override_settings(STRAWBERRY_ACTIVITY={"ROLLUPS": False}):
        return {name: call() for name, call in calls().items()}


def assert_rollups_agree() -> None:
    """Cold (what is missing counted and kept), then warm (one query, the ledger unread
    for days that are over): both equal the ledger's answers."""
    expected = from_ledger()
    assert {name: call() for name, call in calls().items()} == expected
    assert ActivityRollup.objects.exists()
    for name, call in calls().items():
        with CaptureQueriesContext(connection) as ctx:
            assert call() == expected[name], name
        assert len(ctx.captured_queries) == 1, name


@pytest.fixture
def users() -> list[int]:
    ids = make_users(40)
    store(random_ledger(random.Random(5), ids, START - timedelta(days=60), TODAY))
    assert_rollups_agree()  # and now they are warm
    return ids


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.get_current_timezone())


def test_warm_calls_read_no_ledger_and_cold_calls_keep_only_days_that_are_over(
    users: list[int],
) -> None:
    kept = set(ActivityRollup.objects.values_list("day", flat=True))
    assert kept
    assert max(kept) < first_open_day()
    # An answer for today is counted from the ledger each time, and never kept.
    series = calls()[f"dau to {TODAY}"]
    with CaptureQueriesContext(connection) as ctx:
        series()
    assert len(reads(ctx)) == 1
    assert not stored(ctx)


def test_a_warm_statement_leaves_the_ledger_out(users: list[int]) -> None:
    # Planned without a ledger branch, so that PostgreSQL neither plans nor JIT-compiles
    # a read that would not run.
    ledger = ActivityDay._meta.db_table
    for name, call in calls().items():
        if str(TODAY) in name:
            continue  # today is counted from the ledger, every time
        with CaptureQueriesContext(connection) as ctx:
            call()
        assert [ledger in sql for sql in reads(ctx)] == [False], name


def test_rollups_forgotten_by_another_process(users: list[int]) -> None:
    # Another process's change (no hint of it here): the statement without the ledger
    # finds a day missing and asks again with it, once; then the answers are warm again.
    expected = from_ledger()
    ActivityRollup.objects.filter(day=first_open_day() - timedelta(days=30)).delete()
    statements = {}
    for name, call in calls().items():
        with CaptureQueriesContext(connection) as ctx:
            assert call() == expected[name], name
        statements[name] = len(reads(ctx))
    # The first call over that day asks again (and keeps it again, for the calls after
    # it that share it); a call that does not hold it, or comes after, asks once.
    first = next(iter(statements))
    assert statements[first] == 2, first
    assert set(statements.values()) == {1, 2}
    for name, call in calls().items():
        with CaptureQueriesContext(connection) as ctx:
            assert call() == expected[name], name
        assert len(ctx.captured_queries) == 1, name


def test_a_late_write_after_midnight(
    users: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    # touch_last_activity(ts=...) for days that are over, and a user new on them.
    newcomer = User.objects.create(username="late")
    days = (TODAY - timedelta(days=1), TODAY - timedelta(days=35), START + timedelta(days=3))
    # The rollups of a late write's day are forgotten once it commits (in a test, the
    # transaction never commits: its on_commit callbacks are run here).
    with (
        override_settings(STRAWBERRY_ACTIVITY={"DB_TIMEOUT": None}),
        django_capture_on_commit_callbacks(execute=True),
    ):
        for day in days:
            for user in (newcomer, User.objects.get(pk=users[0])):
                touch_last_activity(user, ts=at(day), force=True)
    assert set(ActivityDay.objects.filter(user=newcomer).values_list("day", flat=True)) == set(days)
    assert_rollups_agree()


def test_a_backfill_that_adds_past_days(users: list[int]) -> None:
    sources = [
        {"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "created_at"}
    ]
    newcomer = User.objects.create(username="imported")
    for offset in (2, 9, 40, 100):
        Transfer.objects.create(sender=newcomer, created_at=at(TODAY - timedelta(days=offset)))
        Transfer.objects.create(sender_id=users[1], created_at=at(TODAY - timedelta(days=offset)))
    with override_settings(STRAWBERRY_ACTIVITY={"ACTIVITY_SOURCES": sources}):
        call_command(
            "backfill_last_activity", "--days", "365", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert ActivityDay.objects.filter(user=newcomer).count() == 4
    assert_rollups_agree()


def test_a_prune(users: list[int]) -> None:
    before = from_ledger()
    out = io.StringIO()
    call_command("prune_activity", "--older-than", "100", stdout=out)
    assert "Deleted" in out.getvalue()
    after = from_ledger()
    assert after != before  # first periods moved: some users are new again
    assert_rollups_agree()


def test_prune_activity_batches(users: list[int]) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--batch-size"):
        call_command("prune_activity", "--older-than", "100", "--batch-size", "0")
    out, err = io.StringIO(), io.StringIO()
    cutoff = TODAY - timedelta(days=100)
    old = ActivityDay.objects.filter(day__lt=cutoff).count()
    call_command(
        "prune_activity", "--older-than", "100", "--batch-size", "5", "-v", "2",
        stdout=out, stderr=err,
    )  # fmt: skip
    assert f"Deleted {old} ledger rows" in out.getvalue()
    assert len(err.getvalue().splitlines()) >= old // 5
    assert not ActivityDay.objects.filter(day__lt=cutoff).exists()


def test_a_prune_in_small_batches_deletes_the_same_rows(users: list[int]) -> None:
    cutoff = TODAY - timedelta(days=120)
    old = set(ActivityDay.objects.filter(day__lt=cutoff).values_list("pk", flat=True))
    progress: list[tuple[str, date, int]] = []
    deleted = get_backend().prune(cutoff, batch_size=7, progress=lambda *a: progress.append(a))
    assert deleted == len(old) > 7
    assert not ActivityDay.objects.filter(pk__in=old).exists()
    assert ActivityDay.objects.filter(day__gte=cutoff).exists()
    assert progress[-1][2] == deleted
    assert len(progress) > deleted // 7
    assert_rollups_agree()


def test_a_deleted_user(users: list[int]) -> None:
    User.objects.filter(pk__in=users[:5]).delete()
    assert_rollups_agree()


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata"])
def test_days_across_a_dst_change(zone: str) -> None:
    ids = make_users(12, prefix="dst")
    tz = ZoneInfo(zone)
    # Late evening and early morning around the autumn and spring changes.
    changes = [date(TODAY.year, 3, 8), date(TODAY.year, 3, 29), date(TODAY.year, 10, 25)]
    changes += [date(TODAY.year, 11, 1)]
    with override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": zone, "DB_TIMEOUT": None}):
        for i, user in enumerate(User.objects.filter(pk__in=ids)):
            for change in changes:
                for hour in (0, 1, 2, 3, 23):
                    when = datetime.combine(change + timedelta(days=i % 3 - 1), datetime.min.time())
                    ts = when.replace(hour=hour, tzinfo=tz)
                    if ts < timezone.now():
                        touch_last_activity(user, ts=ts, force=True)
        expected = {name: call() for name, call in calls().items()}
        with override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": zone, "ROLLUPS": False}):
            assert {name: call() for name, call in calls().items()} == expected
        assert {name: call() for name, call in calls().items()} == expected


def test_a_day_is_over_an_hour_after_its_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    zone = ZoneInfo("Europe/Paris")
    midnight = datetime.combine(TODAY, datetime.min.time(), zone)
    with override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": "Europe/Paris"}):
        monkeypatch.setattr(timezone, "now", lambda: midnight + timedelta(minutes=59))
        assert first_open_day() == TODAY - timedelta(days=1)
        monkeypatch.setattr(timezone, "now", lambda: midnight + timedelta(minutes=61))
        assert first_open_day() == TODAY


def test_in_the_first_hour_of_a_day_yesterday_is_still_counted_from_the_ledger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zone = ZoneInfo(timezone.get_current_timezone_name())
    half_past = datetime.combine(TODAY, datetime.min.time(), zone) + timedelta(minutes=30)
    monkeypatch.setattr(timezone, "now", lambda: half_past)
    assert first_open_day() == TODAY - timedelta(days=1)
    ids = make_users(30)
    store(random_ledger(random.Random(8), ids, START - timedelta(days=60), TODAY))
    # A series ending today has two days not over; what was kept of yesterday is not read.
    assert_rollups_agree()
    assert not ActivityRollup.objects.filter(day__gte=TODAY - timedelta(days=1)).exists()


@pytest.mark.parametrize("period", ["week", "month"])
def test_in_the_first_hour_of_a_period_two_periods_are_still_running(
    period: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = ZoneInfo(timezone.get_current_timezone_name())
    first = TODAY - timedelta(days=TODAY.weekday()) if period == "week" else TODAY.replace(day=1)
    now = datetime.combine(first, datetime.min.time(), zone) + timedelta(minutes=30)
    monkeypatch.setattr(timezone, "now", lambda: now)
    assert first_open_day() == first - timedelta(days=1)
    ids = make_users(30)
    store(random_ledger(random.Random(9), ids, first - timedelta(days=150), first))
    start = first - timedelta(days=120)

    def answers() -> tuple[Any, Any]:
        return get_retention(start, first, period=period), get_lifecycle(
            start, first, period=period
        )

    with override_settings(STRAWBERRY_ACTIVITY={"ROLLUPS": False}):
        expected = answers()
    assert answers() == expected  # cold: counted from the ledger, the closed periods kept
    assert not ActivityRollup.objects.filter(until__gte=first - timedelta(days=1)).exists()
    # Warm: the closed periods kept, the two still running read from their own days.
    with CaptureQueriesContext(connection) as ctx:
        assert answers() == expected
    assert len(reads(ctx)) == 2
    assert not stored(ctx)


def test_a_count_read_before_a_change_is_not_kept(django_capture_on_commit_callbacks: Any) -> None:
    (user,) = make_users(1)
    day = TODAY - timedelta(days=10)
    store({"default": {(user, day)}})
    row = ("default", "dau", day, 0, 1, day, day)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rollups.version_sql(connection)}")
        (seen,) = cursor.fetchone()
    with django_capture_on_commit_callbacks(execute=True):
        get_backend().add_day(user, "default", day - timedelta(days=1))  # a change meanwhile
    rollups.keep(connection.alias, seen, [row])
    assert not ActivityRollup.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rollups.version_sql(connection)}")
        (now,) = cursor.fetchone()
    rollups.keep(connection.alias, now, [row])
    assert ActivityRollup.objects.count() == 1


def test_without_rollups_nothing_is_kept() -> None:
    ids = make_users(5)
    store(random_ledger(random.Random(2), ids, START, TODAY))
    with override_settings(STRAWBERRY_ACTIVITY={"ROLLUPS": False}):
        for call in calls().values():
            call()
    assert not ActivityRollup.objects.exists()


# -- the command ----------------------------------------------------------------------------


def rollup(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("activity_rollup", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_activity_rollup_keeps_what_reads_need_and_is_idempotent() -> None:
    ids = make_users(20)
    store(random_ledger(random.Random(3), ids, START - timedelta(days=60), TODAY))
    out, err = rollup("--days", "120")
    assert "Kept the history of" in out
    assert "default: mau series" in err
    assert "default: lifecycle by month" in err
    kept = ActivityRollup.objects.count()
    assert kept > 0
    # What the command kept answers a read over days that are over in one query.
    last = first_open_day() - timedelta(days=1)
    with CaptureQueriesContext(connection) as ctx:
        get_activity_series("mau", last - timedelta(days=119), last)
    assert len(ctx.captured_queries) == 1
    with CaptureQueriesContext(connection) as ctx:
        rollup("--days", "120")
    assert ActivityRollup.objects.count() == kept
    assert not stored(ctx)
    rollup("--rebuild", "--kind", "default", "--days", "120")
    assert ActivityRollup.objects.count() == kept


def test_activity_rollup_bad_options() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days"):
        rollup("--days", "0")
    with pytest.raises(CommandError):
        rollup("--kind", "x" * 40)


def test_activity_rollup_with_the_memory_backend() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"BACKEND": MEMORY_BACKEND}):
        out, _ = rollup()
    assert "keeps no rollups" in out
