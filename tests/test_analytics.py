"""Growth analytics (SPEC §10) against a brute-force oracle, on both backends.

The oracle never asks the database and shares no code with the package: it holds the
ledger as a set of ``(user, day)`` pairs per kind and answers each question by looking at
sets of users, with its own idea of a week (``day - weekday``) and a month (``day=1``).
The backends are checked against it for every function, period and kind: random ledgers
with users active once, gaps, empty periods and history before the range; weeks across a
month boundary; days written through the real touch path across daylight-saving changes
in ``DAY_TIMEZONE``; both SQL shapes of the ``db`` backend (bit masks up to 62 periods,
window functions beyond).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from strawberry_activity import (
    LifecyclePoint,
    RetentionCohort,
    aget_lifecycle,
    aget_power_users,
    aget_retention,
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    touch_last_activity,
)
from strawberry_activity.backends import get_backend
from strawberry_activity.backends.memory import MemoryBackend
from strawberry_activity.models import ActivityDay
from strawberry_activity.testing import MEMORY_BACKEND
from tests.statements import reads
from tests.testapp.models import User

NEW_YORK = ZoneInfo("America/New_York")
Ledger = dict[str, set[tuple[int, date]]]  # kind -> {(user, day)}
KINDS = ("default", "transaction")
PERIODS = ("day", "week", "month")

# -- the oracle ------------------------------------------------------------------------------

FIRST_DAY: dict[str, Callable[[date], date]] = {
    "day": lambda d: d,
    "week": lambda d: d - timedelta(days=d.weekday()),
    "month": lambda d: d.replace(day=1),
}


def oracle_periods(start: date, end: date, period: str) -> list[date]:
    """Every period touched by walking the days from the one holding ``start`` to ``end``."""
    found: list[date] = []
    day = FIRST_DAY[period](start)
    while day <= end:
        first = FIRST_DAY[period](day)
        if not found or found[-1] != first:
            found.append(first)
        day += timedelta(days=1)
    return found


def previous(first: date, period: str) -> date:
    return FIRST_DAY[period](first - timedelta(days=1))


def users_active(rows: set[tuple[int, date]], first: date, period: str) -> set[int]:
    return {user for user, day in rows if FIRST_DAY[period](day) == first}


def first_periods(rows: set[tuple[int, date]], period: str) -> dict[int, date]:
    earliest: dict[int, date] = {}
    for user, day in rows:
        earliest[user] = min(day, earliest.get(user, day))
    return {user: FIRST_DAY[period](day) for user, day in earliest.items()}


def oracle_retention(
    rows: set[tuple[int, date]], start: date, end: date, period: str
) -> list[tuple[date, int, tuple[int, ...]]]:
    periods = oracle_periods(start, end, period)
    firsts = first_periods(rows, period)
    result = []
    for i, cohort_start in enumerate(periods):
        cohort = {user for user, first in firsts.items() if first == cohort_start}
        retained = tuple(len(cohort & users_active(rows, p, period)) for p in periods[i:])
        result.append((cohort_start, len(cohort), retained))
    return result


def oracle_lifecycle(
    rows: set[tuple[int, date]], start: date, end: date, period: str
) -> list[tuple[date, int, int, int, int]]:
    firsts = first_periods(rows, period)
    result = []
    for p in oracle_periods(start, end, period):
        now, before = users_active(rows, p, period), users_active(rows, previous(p, period), period)
        new = {user for user in now if firsts[user] == p}
        result.append((p, len(new), len(now & before), len(now - before - new), len(before - now)))
    return result


def oracle_power_users(rows: set[tuple[int, date]], days: int, end: date) -> dict[int, int]:
    window = {end - timedelta(days=i) for i in range(days)}
    per_user: dict[int, int] = {}
    for user, day in rows:
        if day in window:
            per_user[user] = per_user.get(user, 0) + 1
    return {n: sum(1 for count in per_user.values() if count == n) for n in range(1, days + 1)}


def as_tuples(
    cohorts: list[RetentionCohort] | list[LifecyclePoint],
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in cohorts:
        if isinstance(item, RetentionCohort):
            out.append((item.start, item.size, item.retained))
        else:
            out.append((item.start, item.new, item.returning, item.resurrecting, item.dormant))
    return out


# -- storing a ledger ------------------------------------------------------------------------


@pytest.fixture(params=["db", "memory"])
def backend_name(request: pytest.FixtureRequest) -> Iterator[str]:
    settings: dict[str, Any] = {"DAY_TIMEZONE": "America/New_York", "MAX_DAYS": 2000}
    if request.param == "memory":
        settings["BACKEND"] = MEMORY_BACKEND
    with override_settings(STRAWBERRY_ACTIVITY=settings):
        yield request.param


def make_users(n: int, prefix: str = "a") -> list[int]:
    users = User.objects.bulk_create([User(username=f"{prefix}{i}") for i in range(n)])
    return [u.pk for u in users]


def store(ledger: Ledger) -> None:
    """Put the ledger where the configured backend reads it."""
    backend = get_backend()
    if isinstance(backend, MemoryBackend):
        backend.days |= {(user, kind, day) for kind, rows in ledger.items() for user, day in rows}
        return
    ActivityDay.objects.bulk_create(
        [
            ActivityDay(user_id=user, kind=kind, day=day)
            for kind, rows in ledger.items()
            for user, day in rows
        ],
        batch_size=2000,
    )


def random_ledger(rng: random.Random, users: list[int], first: date, last: date) -> Ledger:
    """Each user a habit: once only, a burst, regular with gaps, lapsed then back, or
    nothing; the stricter kind a subset of the default one. Some weeks stay empty."""
    span = (last - first).days
    quiet = {first + timedelta(days=d) for d in range(span) if (d // 7) % 9 == 4}
    ledger: Ledger = {kind: set() for kind in KINDS}
    for user in users:
        habit = rng.choice(["once", "burst", "regular", "lapsed", "never", "regular"])
        begin = first + timedelta(days=rng.randrange(span + 1))
        if habit == "once":
            days = {begin}
        elif habit == "burst":
            days = {begin + timedelta(days=rng.randrange(5)) for _ in range(rng.randint(2, 6))}
        elif habit == "regular":
            gap = rng.choice([1, 2, 3, 7, 10])
            days = {
                begin + timedelta(days=d + rng.randrange(2))
                for d in range(0, rng.randint(5, 150), gap)
            }
        elif habit == "lapsed":
            back = begin + timedelta(days=rng.randint(20, 120))
            days = {begin, begin + timedelta(days=1), back, back + timedelta(days=3)}
        else:
            days = set()
        days = {d for d in days if first <= d <= last and d not in quiet}
        ledger["default"] |= {(user, d) for d in days}
        ledger["transaction"] |= {(user, d) for d in days if rng.random() < 0.4}
    return ledger


def check_all(ledger: Ledger, start: date, end: date, period: str) -> None:
    for kind in KINDS:
        rows = ledger[kind]
        assert as_tuples(get_retention(start, end, period=period, kind=kind)) == (
            oracle_retention(rows, start, end, period)
        ), (kind, period, start, end)
        points = get_lifecycle(start, end, period=period, kind=kind)
        assert as_tuples(points) == oracle_lifecycle(rows, start, end, period), (kind, period)
        for point in points:  # the invariants of SPEC §10
            before = previous(point.start, period)
            assert point.active == len(users_active(rows, point.start, period))
            assert point.returning + point.dormant == len(users_active(rows, before, period))
            if point.dormant:
                comeback = point.new + point.resurrecting
                assert point.quick_ratio == round(comeback / point.dormant, 4)
            else:
                assert point.quick_ratio is None


# -- against the oracle ----------------------------------------------------------------------

# (period, start, end): both SQL shapes, weeks across month ends, ranges not aligned on
# periods, and the first and last periods partly outside the range.
RANGES = [
    ("day", date(2026, 6, 20), date(2026, 7, 19)),  # 30 days: masks
    ("day", date(2026, 6, 1), date(2026, 8, 29)),  # 90 days: window functions
    ("week", date(2026, 6, 10), date(2026, 9, 3)),  # masks; Jun 29 - Jul 5, Aug 31 - Sep 6
    ("week", date(2025, 6, 4), date(2026, 10, 15)),  # 72 weeks: window functions
    ("month", date(2025, 11, 15), date(2026, 10, 2)),  # masks
    ("month", date(2021, 1, 31), date(2026, 6, 1)),  # 66 months: window functions
]


@pytest.mark.django_db
@pytest.mark.parametrize(("period", "start", "end"), RANGES)
def test_equal_a_brute_force_oracle(backend_name: str, period: str, start: date, end: date) -> None:
    rng = random.Random(f"{period}{start}")
    users = make_users(60)
    # History before the range too: those users are not new in it.
    ledger = random_ledger(rng, users, start - timedelta(days=120), end + timedelta(days=10))
    store(ledger)
    check_all(ledger, start, end, period)


@pytest.mark.django_db
@pytest.mark.parametrize("period", PERIODS)
def test_power_users_equal_the_oracle(backend_name: str, period: str) -> None:
    rng = random.Random(period)
    users = make_users(60)
    ledger = random_ledger(rng, users, date(2026, 5, 1), date(2026, 8, 31))
    store(ledger)
    for kind in KINDS:
        for days, end in ((28, date(2026, 7, 31)), (1, date(2026, 7, 2)), (90, date(2026, 8, 20))):
            assert get_power_users(days=days, end=end, kind=kind) == oracle_power_users(
                ledger[kind], days, end
            )


@pytest.mark.django_db
def test_days_written_across_daylight_saving_changes(backend_name: str) -> None:
    """Touches through the real write path around midnight in New York, on the days the
    clocks change (2026-03-08, 2026-11-01) and others; the oracle takes each instant's
    New York date."""
    rng = random.Random(11)
    users = User.objects.bulk_create([User(username=f"dst{i}") for i in range(25)])
    expected: set[tuple[int, date]] = set()
    instants = []
    for user in users:
        for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 10, 31), date(2026, 11, 1)):
            if rng.random() < 0.5:
                midnight = datetime.combine(day, datetime.min.time(), NEW_YORK)
                instants.append((user, midnight + timedelta(seconds=rng.choice([-1, 0, 1]))))
        for _ in range(rng.randint(0, 12)):
            instants.append(
                (
                    user,
                    datetime(2026, 2, 20, tzinfo=NEW_YORK)
                    + timedelta(seconds=rng.randrange(280 * 86400)),
                )
            )
    for user, instant in instants:
        touch_last_activity(user, ts=instant, force=True)
        expected.add((user.pk, instant.astimezone(NEW_YORK).date()))
    ledger = {"default": expected, "transaction": set()}
    for period, start, end in (
        ("day", date(2026, 10, 20), date(2026, 11, 10)),
        ("day", date(2026, 3, 1), date(2026, 3, 15)),
        ("week", date(2026, 2, 23), date(2026, 11, 20)),
        ("month", date(2026, 2, 1), date(2026, 11, 30)),
    ):
        check_all(ledger, start, end, period)
    assert get_power_users(days=30, end=date(2026, 11, 5)) == oracle_power_users(
        expected, 30, date(2026, 11, 5)
    )


@pytest.mark.django_db
def test_a_daily_lifecycle_is_the_dau_series(backend_name: str) -> None:
    """Per day, new + returning + resurrecting users are that day's DAU."""
    users = make_users(40)
    ledger = random_ledger(random.Random(5), users, date(2026, 4, 1), date(2026, 7, 31))
    store(ledger)
    start, end = date(2026, 6, 1), date(2026, 7, 15)
    active = [p.active for p in get_lifecycle(start, end, period="day")]
    assert active == [n for _, n in get_activity_series("dau", start, end)]


@pytest.mark.django_db
def test_small_cases_written_out(backend_name: str) -> None:
    """Hand-checked: a user active once, a week across a month end, an empty week, a user
    lapsed and back."""
    once, steady, lapsed = make_users(3)
    rows = {
        (once, date(2026, 6, 30)),  # Tuesday of the week Jun 29 - Jul 5
        (steady, date(2026, 6, 22)),
        (steady, date(2026, 7, 1)),  # same week as Jun 30, another month
        (steady, date(2026, 7, 20)),  # after an empty week (Jul 6 - 12 has nobody)
        (lapsed, date(2026, 5, 4)),
        (lapsed, date(2026, 7, 14)),
    }
    store({"default": rows})
    weeks = get_retention(date(2026, 6, 22), date(2026, 7, 26))
    assert [(c.start, c.size, c.retained) for c in weeks] == [
        (date(2026, 6, 22), 1, (1, 1, 0, 0, 1)),
        (date(2026, 6, 29), 1, (1, 0, 0, 0)),
        (date(2026, 7, 6), 0, (0, 0, 0)),
        (date(2026, 7, 13), 0, (0, 0)),
        (date(2026, 7, 20), 0, (0,)),
    ]
    points = get_lifecycle(date(2026, 6, 22), date(2026, 7, 26))
    assert [(p.new, p.returning, p.resurrecting, p.dormant, p.quick_ratio) for p in points] == [
        (1, 0, 0, 0, None),  # steady
        (1, 1, 0, 0, None),  # once is new; steady returns
        (0, 0, 0, 2, 0.0),  # the empty week: both go dormant
        (0, 0, 1, 0, None),  # lapsed comes back (first seen in May)
        (0, 0, 1, 1, 1.0),  # steady comes back; lapsed goes
    ]
    months = get_lifecycle(date(2026, 6, 1), date(2026, 7, 31), period="month")
    assert [(p.start, p.new, p.returning, p.resurrecting, p.dormant) for p in months] == [
        (date(2026, 6, 1), 2, 0, 0, 1),  # once and steady new; lapsed (May) dormant
        (date(2026, 7, 1), 0, 1, 1, 1),  # steady returns, lapsed resurrects, once dormant
    ]
    assert get_power_users(days=28, end=date(2026, 7, 20)) == {
        **dict.fromkeys(range(1, 29), 0),
        1: 2,  # once (Jun 30), lapsed (Jul 14)
        2: 1,  # steady (Jul 1, Jul 20); Jun 22 is 29 days before
    }


@pytest.mark.django_db
def test_empty_ledger(backend_name: str) -> None:
    make_users(3)
    cohorts = get_retention(date(2026, 1, 1), date(2026, 3, 31), period="month")
    assert [(c.start, c.size, c.retained) for c in cohorts] == [
        (date(2026, 1, 1), 0, (0, 0, 0)),
        (date(2026, 2, 1), 0, (0, 0)),
        (date(2026, 3, 1), 0, (0,)),
    ]
    points = get_lifecycle(date(2026, 1, 1), date(2026, 1, 3), period="day")
    assert [(p.active, p.dormant, p.quick_ratio) for p in points] == [(0, 0, None)] * 3
    assert get_power_users(days=7, end=date(2026, 1, 7)) == dict.fromkeys(range(1, 8), 0)


# -- first period: pruning and backfill move it ---------------------------------------------


@pytest.mark.django_db
def test_pruning_makes_a_user_new_again(backend_name: str) -> None:
    (user,) = make_users(1)
    store({"default": {(user, date(2026, 3, 2)), (user, date(2026, 6, 1))}})
    june = get_lifecycle(date(2026, 6, 1), date(2026, 6, 7), period="week")[0]
    assert (june.new, june.resurrecting) == (0, 1)
    get_backend().prune(date(2026, 4, 1))
    june = get_lifecycle(date(2026, 6, 1), date(2026, 6, 7), period="week")[0]
    assert (june.new, june.resurrecting) == (1, 0)


# -- one query, routing, cache, async ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("period", "start", "end"), RANGES)
def test_one_query_per_call(period: str, start: date, end: date) -> None:
    users = make_users(30)
    store(random_ledger(random.Random(1), users, start - timedelta(days=30), end))
    with override_settings(STRAWBERRY_ACTIVITY={"MAX_DAYS": 2000}):
        for call in (
            lambda: get_retention(start, end, period=period),
            lambda: get_lifecycle(start, end, period=period, kind="transaction"),
            lambda: get_power_users(days=min(366, (end - start).days + 1), end=end),
        ):
            with CaptureQueriesContext(connection) as cold:
                first = call()
            assert len(reads(cold)) == 1, cold.captured_queries
            with CaptureQueriesContext(connection) as warm:
                assert call() == first
            assert len(warm.captured_queries) == 1, warm.captured_queries


BAD = [
    (lambda: get_retention(date(2026, 1, 1), date(2026, 2, 1), period="year"), "period must be"),
    (lambda: get_lifecycle(date(2026, 1, 1), date(2026, 2, 1), period="WEEK"), "period must be"),
    (lambda: get_retention(date(2026, 2, 1), date(2026, 1, 1)), "before start"),
    (lambda: get_lifecycle(date(2026, 2, 1), date(2026, 1, 31)), "before start"),
    (lambda: get_retention(date(2025, 1, 1), date(2026, 1, 2)), "more than 366"),
    (lambda: get_lifecycle(date(2025, 1, 1), date(2026, 1, 2), period="month"), "more than 366"),
    (lambda: get_power_users(days=0), "between 1 and 366"),
    (lambda: get_power_users(days=367), "between 1 and 366"),
    (lambda: get_power_users(days=-1, end=date(2026, 1, 1)), "between 1 and 366"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_input_is_a_value_error_before_any_query(call: Callable[[], Any], message: str) -> None:
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ValueError, match=message):
        call()
    assert ctx.captured_queries == []


@pytest.mark.django_db
def test_bad_types() -> None:
    with CaptureQueriesContext(connection) as ctx:
        for call in (
            lambda: get_retention("2026-01-01", date(2026, 1, 2)),  # type: ignore[arg-type]
            lambda: get_lifecycle(date(2026, 1, 1), datetime(2026, 1, 2)),
            lambda: get_power_users(days="7"),  # type: ignore[arg-type]
            lambda: get_power_users(end=datetime(2026, 1, 2)),
        ):
            with pytest.raises(TypeError):
                call()
        with pytest.raises(ValueError, match="kind must be"):
            get_retention(date(2026, 1, 1), date(2026, 1, 2), kind="")
    assert ctx.captured_queries == []


def test_max_days_setting_moves_the_limit() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"MAX_DAYS": 30}):
        with pytest.raises(ValueError, match="more than 30"):
            get_retention(date(2026, 1, 1), date(2026, 1, 31))
        with pytest.raises(ValueError, match="between 1 and 30"):
            get_power_users(days=31)


@pytest.mark.django_db(databases=["default", "replica"])
def test_reads_go_to_metrics_database() -> None:
    """Different ledgers on each alias: the numbers and the captured queries tell which
    one was read."""
    for alias, count in (("default", 1), ("replica", 3)):
        users = User.objects.db_manager(alias).bulk_create(
            [User(username=f"{alias}{i}") for i in range(count)]
        )
        ActivityDay.objects.using(alias).bulk_create(
            [ActivityDay(user_id=u.pk, day=date(2026, 6, 3)) for u in users]
        )
    with override_settings(STRAWBERRY_ACTIVITY={"METRICS_DATABASE": "replica"}):
        with (
            CaptureQueriesContext(connections["default"]) as on_default,
            CaptureQueriesContext(connections["replica"]) as on_replica,
        ):
            cohort = get_retention(date(2026, 6, 1), date(2026, 6, 7))[0]
            point = get_lifecycle(date(2026, 6, 1), date(2026, 6, 7))[0]
            power = get_power_users(days=7, end=date(2026, 6, 7))
        assert (cohort.size, point.new, power[1]) == (3, 3, 3)
        assert on_default.captured_queries == []
        assert len(on_replica.captured_queries) == 3
    assert get_retention(date(2026, 6, 1), date(2026, 6, 7))[0].size == 1


@pytest.mark.django_db
@pytest.mark.parametrize("alias", [None, "shared"])
def test_cache_seconds(alias: str | None, django_capture_on_commit_callbacks: Any) -> None:
    (user,) = make_users(1)
    store({"default": {(user, date(2026, 6, 3))}})
    calls: list[Callable[[], Any]] = [
        lambda: get_retention(date(2026, 6, 1), date(2026, 6, 14)),
        lambda: get_lifecycle(date(2026, 6, 1), date(2026, 6, 14), period="day"),
        lambda: get_power_users(days=7, end=date(2026, 6, 7)),
    ]
    with override_settings(STRAWBERRY_ACTIVITY={"METRICS_CACHE_SECONDS": 60, "CACHE_ALIAS": alias}):
        with CaptureQueriesContext(connection) as ctx:
            first = [call() for call in calls]
            again = [call() for call in calls]
        assert len(reads(ctx)) == 3
        assert again == first
        # Other arguments are other entries.
        with CaptureQueriesContext(connection) as ctx:
            get_retention(date(2026, 6, 1), date(2026, 6, 14), period="day")
            get_power_users(days=7, end=date(2026, 6, 8))
            get_power_users(days=7, end=date(2026, 6, 7), kind="transaction")
        assert len(reads(ctx)) == 3
        with django_capture_on_commit_callbacks(execute=True):
            get_backend().add_day(user, "default", date(2026, 6, 4))  # a late write
        assert calls[2]() == first[2]  # cached: the new day is not seen yet
        caches[alias or "default"].clear()
        assert calls[2]()[2] == 1
    with CaptureQueriesContext(connection) as ctx:
        calls[0]()
        calls[0]()
    assert len(reads(ctx)) == 2  # no cache by default


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_twins() -> None:
    try:
        users = await sync_to_async(make_users)(20)
        ledger = random_ledger(random.Random(9), users, date(2026, 5, 1), date(2026, 7, 31))
        await sync_to_async(store)(ledger)
        start, end = date(2026, 6, 1), date(2026, 7, 31)
        assert await aget_retention(start, end) == await sync_to_async(get_retention)(start, end)
        assert await aget_lifecycle(start, end, period="month", kind="transaction") == (
            await sync_to_async(get_lifecycle)(start, end, period="month", kind="transaction")
        )
        assert await aget_power_users(days=14, end=end) == oracle_power_users(
            ledger["default"], 14, end
        )
        with pytest.raises(ValueError, match="before start"):
            await aget_retention(end, start)
    finally:
        await sync_to_async(connections.close_all)()


def test_dataclasses_are_frozen_values() -> None:
    cohort = RetentionCohort(start=date(2026, 6, 1), size=4, retained=(4, 2, 1))
    assert cohort.percentages() == (100.0, 50.0, 25.0)
    assert RetentionCohort(start=date(2026, 6, 1), size=0, retained=(0,)).percentages() == (0.0,)
    point = LifecyclePoint(date(2026, 6, 1), 1, 2, 3, 4, 1.0)
    assert point.active == 6
    assert len({cohort, cohort, point}) == 2  # hashable
    with pytest.raises(AttributeError):
        cohort.size = 5  # type: ignore[misc]
