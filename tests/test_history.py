"""History: the daily ledger, series, kinds, prune (SPEC §7)."""

from __future__ import annotations

import io
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity import get_activity_metrics, get_activity_series, touch_last_activity
from strawberry_activity.backends import get_backend
from strawberry_activity.models import ActivityDay
from strawberry_activity.testing import MEMORY_BACKEND as MEMORY
from tests.conftest import activity_writes, gql, ledger_writes
from tests.statements import reads, stored
from tests.testapp.models import User

NEW_YORK = ZoneInfo("America/New_York")  # DST ended on 2026-11-01 at 02:00


def oracle(days: set[tuple[int, date]], window: int, start: date, end: date) -> list[tuple]:
    """Brute force, the other way round from the backends (which look back from each day):
    each active day of a user covers the ``window`` days that begin on it, and a day counts
    the users who cover it."""
    covering: dict[date, set[int]] = defaultdict(set)
    for pk, active in days:
        for offset in range(window):
            covering[active + timedelta(days=offset)].add(pk)
    span = (end - start).days + 1
    return [(d, len(covering[d])) for d in (start + timedelta(days=i) for i in range(span))]


def random_activity(rng: random.Random, users: list[User]) -> set[tuple[int, date]]:
    """Touch users at random instants over Aug-Nov 2026 (incl. midnights, the DST change)
    through the real write path; return the (user, New York day) pairs an oracle expects."""
    start = datetime(2026, 8, 1, tzinfo=NEW_YORK)
    expected = set()
    instants = []
    for user in users:
        engagement = rng.choice([0, 1, 2, 5, 20, 40])
        for _ in range(engagement):
            instants.append((user, start + timedelta(seconds=rng.randrange(0, 110 * 86400))))
        # Near midnight on both sides, around the DST change and far from it.
        for day in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 9, 14)):
            if rng.random() < 0.3:
                midnight = datetime.combine(day, datetime.min.time(), NEW_YORK)
                instants.append((user, midnight - timedelta(seconds=1)))
                instants.append((user, midnight))
    for user, instant in instants:
        touch_last_activity(user, ts=instant, force=True)
        expected.add((user.pk, instant.astimezone(NEW_YORK).date()))
    return expected


@pytest.fixture(params=["db", "memory"])
def backend_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    # No DB_TIMEOUT: an oracle needs every write, even on a loaded machine (the timeout has
    # tests of its own, in test_bounded).
    settings: dict[str, object] = {"DAY_TIMEZONE": "America/New_York", "DB_TIMEOUT": None}
    if request.param == "memory":
        settings["BACKEND"] = MEMORY
    with override_settings(STRAWBERRY_ACTIVITY=settings):
        yield


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_series_equal_a_brute_force_oracle(backend_settings: None, seed: int) -> None:
    rng = random.Random(seed)
    users = [User.objects.create(username=f"h{seed}-{i}") for i in range(30)]
    expected = random_activity(rng, users)
    start, end = date(2026, 8, 10), date(2026, 11, 20)
    for metric, window in (("dau", 1), ("wau", 7), ("mau", 30)):
        assert get_activity_series(metric, start, end) == oracle(expected, window, start, end)


@pytest.mark.django_db
def test_days_follow_day_timezone_across_midnight(user: User) -> None:
    midnight = datetime(2026, 11, 1, tzinfo=NEW_YORK)  # 04:00 UTC, after DST ended
    with override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": "America/New_York"}):
        touch_last_activity(user, ts=midnight - timedelta(seconds=1), force=True)
        series = get_activity_series("dau", date(2026, 10, 31), date(2026, 11, 1))
    assert series == [(date(2026, 10, 31), 1), (date(2026, 11, 1), 0)]
    # The same instant is already November 1st in UTC.
    assert ActivityDay.objects.get().day == date(2026, 10, 31)


@pytest.mark.django_db
@pytest.mark.parametrize("metric", ["dau", "wau", "mau"])
def test_a_90_day_series_is_one_query(metric: str) -> None:
    rng = random.Random(7)
    users = [User.objects.create(username=f"q{i}") for i in range(10)]
    random_activity(rng, users)
    with CaptureQueriesContext(connection) as cold:
        points = get_activity_series(metric, date(2026, 8, 23), date(2026, 11, 20))
    assert len(points) == 90
    # Cold: one read (rollups, version and ledger), then the 90 days that are over kept.
    assert len(reads(cold)) == 1
    assert stored(cold)
    with CaptureQueriesContext(connection) as warm:
        again = get_activity_series(metric, date(2026, 8, 23), date(2026, 11, 20))
    assert again == points
    assert len(warm.captured_queries) == 1
    without = override_settings(STRAWBERRY_ACTIVITY={"ROLLUPS": False})
    with without, CaptureQueriesContext(connection) as ledger_only:
        assert get_activity_series(metric, date(2026, 8, 23), date(2026, 11, 20)) == points
    assert len(ledger_only.captured_queries) == 1


@pytest.mark.django_db
def test_series_validation() -> None:
    with CaptureQueriesContext(connection) as ctx:
        for args, message in [
            (("hau", date(2026, 1, 1), date(2026, 1, 2)), "metric must be one of"),
            (("dau", date(2026, 1, 2), date(2026, 1, 1)), "before start"),
            (("dau", date(2024, 1, 1), date(2026, 1, 1)), "more than 366"),
        ]:
            with pytest.raises(ValueError, match=message):
                get_activity_series(*args)
        with pytest.raises(TypeError):
            get_activity_series("dau", "2026-01-01", date(2026, 1, 2))  # type: ignore[arg-type]
    assert ctx.captured_queries == []


class SimulatedClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def wall(self) -> float:
        return self.at.timestamp()

    def now(self) -> datetime:
        return self.at


@pytest.mark.django_db(transaction=True)
def test_a_day_of_touches_costs_one_ledger_statement(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 touches by one user across one day: at most one ledger row and statement,
    and activity writes exactly once per cooldown window."""
    clock = SimulatedClock(datetime(2026, 11, 10, tzinfo=NEW_YORK))
    monkeypatch.setattr(time, "time", clock.wall)
    monkeypatch.setattr(time, "monotonic", clock.wall)
    monkeypatch.setattr(timezone, "now", clock.now)
    step = timedelta(seconds=86.4)
    expected_writes, last_write = 0, None
    with (
        override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": "America/New_York"}),
        CaptureQueriesContext(connection) as ctx,
    ):
        for _ in range(1000):
            if last_write is None or clock.at - last_write >= timedelta(seconds=300):
                expected_writes, last_write = expected_writes + 1, clock.at
            touch_last_activity(user)
            clock.at += step
    assert ActivityDay.objects.filter(user=user).count() == 1
    assert len(ledger_writes(ctx)) == 1
    assert len(activity_writes(ctx)) == expected_writes


# -- kinds --------------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(STRAWBERRY_ACTIVITY={"MUTATION_KINDS": {"sendMoney": "transaction"}})
def test_kinds_login_only_versus_money_movers(user: User, other: User) -> None:
    logs_in, sends = Client(), Client()
    gql(logs_in, 'mutation { login(username: "alice", password: "pw") { username } }')
    gql(sends, 'mutation { login(username: "bob", password: "pw") { username } }')
    gql(sends, "mutation { sendMoney(amount: 10) }")

    assert get_activity_metrics()["dau"] == 2
    assert get_activity_metrics(kind="transaction")["dau"] == 1
    today = timezone.localdate()
    assert get_activity_series("dau", today, today) == [(today, 2)]
    assert get_activity_series("dau", today, today, kind="transaction") == [(today, 1)]
    assert set(ActivityDay.objects.filter(kind="transaction").values_list("user", flat=True)) == {
        other.pk
    }


# -- GraphQL ------------------------------------------------------------------------------

SERIES = """
query ($metric: ActivityMetric!, $start: Date!, $end: Date!, $kind: String) {
  activeUsers(kind: $kind) { series(metric: $metric, start: $start, end: $end) { date value } }
}
"""


def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_graphql_series_matches_the_python_api(staff: User) -> None:
    rng = random.Random(3)
    users = [User.objects.create(username=f"g{i}") for i in range(12)]
    random_activity(rng, users)
    client = staff_client(staff)
    start, end = date(2026, 9, 1), date(2026, 11, 20)
    for metric in ("DAU", "WAU", "MAU"):
        variables = {"metric": metric, "start": start.isoformat(), "end": end.isoformat()}
        result = gql(client, SERIES, variables)
        points = result["data"]["activeUsers"]["series"]
        expected = get_activity_series(metric.lower(), start, end)
        assert [(date.fromisoformat(p["date"]), p["value"]) for p in points] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-01", "2026-01-01", "before start"),
        ("2024-01-01", "2026-01-01", "more than 366"),
    ],
)
def test_graphql_series_bad_ranges(staff: User, start: str, end: str, message: str) -> None:
    client = staff_client(staff)
    with CaptureQueriesContext(connection) as ctx:
        result = gql(client, SERIES, {"metric": "DAU", "start": start, "end": end})
    assert result["data"] is None
    assert message in result["errors"][0]["message"]
    ledger_reads = [q for q in ctx.captured_queries if "activityday" in q["sql"]]
    assert ledger_reads == []


@pytest.mark.django_db
def test_graphql_series_bad_input_types(staff: User) -> None:
    client = staff_client(staff)
    result = gql(client, SERIES, {"metric": "HAU", "start": "2026-01-01", "end": "x"})
    assert result["errors"]
    assert "data" not in result or result["data"] is None


@pytest.mark.django_db
def test_graphql_series_is_staff_only(user: User) -> None:
    for client in (Client(), staff_client(user)):
        with CaptureQueriesContext(connection) as ctx:
            result = gql(
                client, SERIES, {"metric": "DAU", "start": "2026-11-01", "end": "2026-11-02"}
            )
        assert result["data"] is None
        assert "permission" in result["errors"][0]["message"]
        assert [q for q in ctx.captured_queries if "activityday" in q["sql"]] == []


@pytest.mark.django_db
def test_stickiness_series(user: User, other: User) -> None:
    from strawberry_activity.metrics import get_stickiness_series

    day = timezone.localdate() - timedelta(days=3)
    noon = datetime.combine(day, datetime.min.time(), timezone.get_current_timezone())
    touch_last_activity(user, ts=noon + timedelta(hours=12), force=True)
    touch_last_activity(other, ts=noon - timedelta(days=5), force=True)
    points = dict(get_stickiness_series(day - timedelta(days=1), day))
    assert points[day] == 0.5  # 1 active that day, 2 in its 30-day window
    assert points[day - timedelta(days=1)] == 0.0


# -- prune ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prune_removes_only_rows_older_than_the_cutoff(user: User) -> None:
    today = timezone.localdate()
    for age in (0, 29, 99, 100, 101, 400):
        ActivityDay.objects.create(user=user, day=today - timedelta(days=age))
    call_command(
        "prune_activity", "--older-than", "100", "--dry-run", stdout=(out := io.StringIO())
    )
    assert "Would delete 2 " in out.getvalue()
    assert ActivityDay.objects.count() == 6
    call_command("prune_activity", "--older-than", "100", stdout=(out := io.StringIO()))
    assert "Deleted 2 " in out.getvalue()
    ages = sorted((today - d).days for d in ActivityDay.objects.values_list("day", flat=True))
    assert ages == [0, 29, 99, 100]


@pytest.mark.django_db
def test_prune_refuses_to_cut_into_the_mau_window() -> None:
    with pytest.raises(CommandError, match="at least 30"):
        call_command("prune_activity", "--older-than", "7")


def test_prune_memory_backend_counts_like_db() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"BACKEND": MEMORY}):
        backend = get_backend()
        backend.days |= {(1, "default", date(2026, 1, d)) for d in range(1, 11)}  # type: ignore[attr-defined]
        assert backend.prune(date(2026, 1, 4), dry_run=True) == 3
        assert backend.prune(date(2026, 1, 4)) == 3
        assert backend.prune(date(2026, 1, 4)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_cooldown_window_never_hides_a_new_day(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Active at 23:58 and at 00:01: both days are in the ledger, though 00:01 is within
    the cooldown of 23:58 (the window is cut at midnight in DAY_TIMEZONE)."""
    clock = SimulatedClock(datetime(2026, 11, 9, 23, 58, tzinfo=NEW_YORK))
    monkeypatch.setattr(time, "time", clock.wall)
    monkeypatch.setattr(time, "monotonic", clock.wall)
    monkeypatch.setattr(timezone, "now", clock.now)
    with override_settings(
        STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": "America/New_York", "CACHE_ALIAS": "shared"}
    ):
        assert touch_last_activity(user) is True
        clock.at += timedelta(minutes=1)
        assert touch_last_activity(user) is False  # same day, in the window
        clock.at += timedelta(minutes=2)  # 00:01 the next day
        with CaptureQueriesContext(connection) as ctx:
            touch_last_activity(user)
        assert len(ledger_writes(ctx)) == 1
        # 23:58 is still within COOLDOWN: only the ledger row is missing, not the time.
        assert activity_writes(ctx) == []
        clock.at += timedelta(minutes=1)
        with CaptureQueriesContext(connection) as ctx:
            assert touch_last_activity(user) is False
        assert ctx.captured_queries == []  # back in the (same) window, now for the new day
    days = sorted(ActivityDay.objects.values_list("day", flat=True))
    assert days == [date(2026, 11, 9), date(2026, 11, 10)]


@pytest.mark.django_db
@pytest.mark.parametrize("as_variables", [False, True])
def test_graphql_bad_series_beside_summary_runs_no_query(staff: User, as_variables: bool) -> None:
    client = staff_client(staff)
    if as_variables:
        query = """query ($s: Date!, $e: Date!) { activeUsers { dau
                   series(metric: MAU, start: $s, end: $e) { value } } }"""
        variables = {"s": "2026-02-01", "e": "2026-01-01"}
    else:
        query = """{ activeUsers { dau
                   series(metric: MAU, start: "2026-02-01", end: "2026-01-01") { value } } }"""
        variables = {}
    with CaptureQueriesContext(connection) as ctx:
        result = gql(client, query, variables)
    assert result["data"] is None
    assert "before start" in result["errors"][0]["message"]
    metric_reads = [q for q in ctx.captured_queries if "strawberry_activity" in q["sql"]]
    assert metric_reads == []
