"""The metrics against a brute-force oracle (SPEC §2), their one query, replica and cache.

The oracle never asks the database: it counts, in Python, over the timestamps the test itself
generated. Each seed builds a random population with users exactly on the window boundaries
(and a microsecond either side), users never active, activity after a ``now`` in the past,
a second kind, and decoy values in the storage the mode must *not* read.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.db import connection, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.backends.memory import MemoryBackend
from strawberry_activity.metrics import (
    aget_activity_metrics,
    get_active_users,
    get_activity_metrics,
)
from strawberry_activity.models import UserActivity
from strawberry_activity.testing import MEMORY_BACKEND
from tests.testapp.models import User

MODES: dict[str, dict[str, Any]] = {
    "table": {},
    "user_field": {"USER_FIELD": "last_activity_at"},
    "memory": {"BACKEND": MEMORY_BACKEND},
}
KINDS = ("default", "transaction")
BOUNDARY_DAYS = (1, 7, 30)
MICROSECOND = timedelta(microseconds=1)


@dataclass
class Population:
    """What the test stored: ``activity[kind][user_pk] = last activity``."""

    now: datetime
    users: list[int] = field(default_factory=list)
    activity: dict[str, dict[int, datetime]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )


def oracle_active(pop: Population, days: int, kind: str = "default") -> set[int]:
    since = pop.now - timedelta(days=days)
    return {pk for pk, ts in pop.activity[kind].items() if ts >= since}


def oracle_metrics(pop: Population, kind: str = "default") -> dict[str, Any]:
    total = len(pop.users)
    dau, wau, mau = (len(oracle_active(pop, d, kind)) for d in BOUNDARY_DAYS)

    def pct(x: int) -> float:
        return round(100 * x / total, 2) if total else 0.0

    return {
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "total_users": total,
        "dau_percentage": pct(dau),
        "wau_percentage": pct(wau),
        "mau_percentage": pct(mau),
        "stickiness": round(dau / mau, 4) if mau else 0.0,
        "as_of": pop.now,
    }


def random_offset(rng: random.Random) -> timedelta:
    """How long before ``now`` an activity was: often exactly on a boundary."""
    roll = rng.random()
    if roll < 0.45:
        boundary = timedelta(days=rng.choice(BOUNDARY_DAYS))
        return boundary + rng.choice((-MICROSECOND, timedelta(0), MICROSECOND))
    if roll < 0.55:
        return -timedelta(seconds=rng.randint(0, 3 * 86400))  # after now (now in the past)
    return timedelta(seconds=rng.randint(0, 45 * 86400), microseconds=rng.randint(0, 999_999))


def random_now(rng: random.Random) -> datetime:
    if rng.random() < 0.5:
        return timezone.now()
    # A now in the past, on a whole second or not.
    past = datetime(2026, 1, 1, tzinfo=dt_timezone.utc) - timedelta(days=rng.randint(0, 900))
    return past + timedelta(microseconds=rng.choice((0, rng.randint(1, 999_999))))


def build(rng: random.Random, mode: str, *, now: datetime | None = None) -> Population:
    pop = Population(now=now or random_now(rng))
    n = rng.choice((0, 1, rng.randint(2, 40)))
    users = User.objects.bulk_create(
        [User(username=f"u{i}", is_active=rng.random() < 0.9) for i in range(n)]
    )
    rows: list[UserActivity] = []
    field_values: dict[int, datetime | None] = {}
    for user in users:
        pop.users.append(user.pk)
        for kind in KINDS:
            if rng.random() < (0.25 if kind == "default" else 0.6):
                continue  # never active (of this kind)
            pop.activity[kind][user.pk] = pop.now - random_offset(rng)
        decoy = pop.now - random_offset(rng) if rng.random() < 0.7 else None
        default = pop.activity["default"].get(user.pk)
        if mode == "user_field":
            field_values[user.pk] = default
            if decoy is not None:  # the table's default kind must be ignored
                rows.append(UserActivity(user=user, kind="default", last_activity_at=decoy))
        else:
            field_values[user.pk] = decoy  # the user field must be ignored
            if mode == "table" and default is not None:
                rows.append(UserActivity(user=user, kind="default", last_activity_at=default))
        other = pop.activity["transaction"].get(user.pk)
        if mode != "memory" and other is not None:
            rows.append(UserActivity(user=user, kind="transaction", last_activity_at=other))
    UserActivity.objects.bulk_create(rows)
    for user in users:
        user.last_activity_at = field_values[user.pk]
    User.objects.bulk_update(users, ["last_activity_at"])
    if mode == "memory":
        backend = get_backend()
        assert isinstance(backend, MemoryBackend)
        backend.clear()
        for kind in KINDS:
            for pk, ts in pop.activity[kind].items():
                backend.last[(pk, kind)] = ts
    return pop


@pytest.fixture(scope="module", autouse=True)
def _close_replica() -> Iterator[None]:
    """PostgreSQL cannot drop a test database with a connection open: the replica alias's
    connection is closed once its tests' transactions are over."""
    yield
    connections["replica"].close()


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(STRAWBERRY_ACTIVITY=MODES[request.param]):
        yield request.param


# -- the oracle ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(25))
def test_metrics_equal_the_oracle(mode: str, seed: int) -> None:
    rng = random.Random(seed)
    pop = build(rng, mode)
    for kind in KINDS:
        assert get_activity_metrics(now=pop.now, kind=kind) == oracle_metrics(pop, kind)
        for days in (*BOUNDARY_DAYS, rng.randint(1, 366)):
            active = get_active_users(days, now=pop.now, kind=kind)
            assert set(active.values_list("pk", flat=True)) == oracle_active(pop, days, kind)


@pytest.mark.django_db
def test_boundary_is_inclusive(mode: str) -> None:
    now = datetime(2025, 6, 1, 12, 0, 0, 500_000, tzinfo=dt_timezone.utc)
    pop = Population(now=now)
    cases = {}
    for days in BOUNDARY_DAYS:
        for label, delta in (("on", timedelta(0)), ("in", -MICROSECOND), ("out", MICROSECOND)):
            cases[f"{label}{days}"] = now - timedelta(days=days) - delta
    for name, ts in cases.items():
        user = User.objects.create(username=name)
        pop.users.append(user.pk)
        pop.activity["default"][user.pk] = ts
        if mode == "user_field":
            User.objects.filter(pk=user.pk).update(last_activity_at=ts)
        elif mode == "table":
            UserActivity.objects.create(user=user, last_activity_at=ts)
        else:
            get_backend().last[(user.pk, "default")] = ts  # type: ignore[attr-defined]
    metrics = get_activity_metrics(now=now)
    # Spelled out, not only compared with the oracle: "on" and "in" count, "out" does not.
    assert (metrics["dau"], metrics["wau"], metrics["mau"]) == (2, 5, 8)
    assert metrics == oracle_metrics(pop)
    names = set(get_active_users(1, now=now).values_list("username", flat=True))
    assert names == {"on1", "in1"}


@pytest.mark.django_db
def test_now_defaults_to_the_current_time(mode: str) -> None:
    pop = build(random.Random(99), mode, now=timezone.now())
    # Nothing within a minute of a boundary, so the few milliseconds between the two "now"s
    # cannot move anyone across one.
    for kind in KINDS:
        for pk, ts in list(pop.activity[kind].items()):
            age = pop.now - ts
            if any(abs(age - timedelta(days=d)) < timedelta(minutes=1) for d in BOUNDARY_DAYS):
                del pop.activity[kind][pk]
                UserActivity.objects.filter(user_id=pk, kind=kind).delete()
                if mode == "user_field" and kind == "default":
                    User.objects.filter(pk=pk).update(last_activity_at=None)
                if mode == "memory":
                    get_backend().last.pop((pk, kind), None)  # type: ignore[attr-defined]
    metrics = get_activity_metrics()
    expected = oracle_metrics(pop)
    assert metrics["as_of"] >= pop.now
    assert {k: v for k, v in metrics.items() if k != "as_of"} == {
        k: v for k, v in expected.items() if k != "as_of"
    }


@pytest.mark.django_db
def test_no_users() -> None:
    assert get_activity_metrics() | {"as_of": None} == {
        "dau": 0,
        "wau": 0,
        "mau": 0,
        "total_users": 0,
        "dau_percentage": 0.0,
        "wau_percentage": 0.0,
        "mau_percentage": 0.0,
        "stickiness": 0.0,
        "as_of": None,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, -5, 367, 100000, 1.5, True, "7"])
def test_bad_days_are_refused_before_any_query(days: Any) -> None:
    with CaptureQueriesContext(connection) as ctx, pytest.raises((ValueError, TypeError)):
        get_active_users(days)
    assert ctx.captured_queries == []


@pytest.mark.django_db
def test_bad_now_and_kind_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        get_activity_metrics(now=datetime(2026, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="kind"):
        get_activity_metrics(kind="")


# -- one query, on METRICS_DATABASE --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("storage", ["table", "user_field"])
def test_one_query(storage: str) -> None:
    with override_settings(STRAWBERRY_ACTIVITY=MODES[storage]):
        pop = build(random.Random(7), storage)
        assert pop.users
        for kind in KINDS:
            with CaptureQueriesContext(connection) as ctx:
                metrics = get_activity_metrics(now=pop.now, kind=kind)
            assert len(ctx.captured_queries) == 1, ctx.captured_queries
            assert metrics == oracle_metrics(pop, kind)


def stored_in(alias: str, storage: str, now: datetime, ages: list[timedelta | None]) -> None:
    """Users on ``alias``, named alias0, alias1, ..., active ``age`` before ``now`` (or never)."""
    start = User.objects.using(alias).count()
    for i, age in enumerate(ages, start):
        user = User.objects.db_manager(alias).create(username=f"{alias}{i}")
        if age is None:
            continue
        if storage == "user_field":
            User.objects.using(alias).filter(pk=user.pk).update(last_activity_at=now - age)
        else:
            UserActivity.objects.using(alias).create(user=user, last_activity_at=now - age)


@pytest.mark.django_db(databases=["default", "replica"])
@pytest.mark.parametrize("storage", ["table", "user_field"])
def test_reads_go_to_metrics_database(storage: str) -> None:
    """Different data on each alias: the numbers tell which one was read, and so do the
    queries captured on each connection. On SQLite the aliases are two in-memory databases;
    on PostgreSQL two connections whose test transactions cannot see each other's rows."""
    now = timezone.now()
    day = timedelta(days=1)
    stored_in("default", storage, now, [day / 2, None])
    stored_in("replica", storage, now, [day / 2, day * 3, day * 20, day * 60, None])
    settings = MODES[storage]
    with override_settings(STRAWBERRY_ACTIVITY={**settings, "METRICS_DATABASE": "replica"}):
        with (
            CaptureQueriesContext(connections["default"]) as on_default,
            CaptureQueriesContext(connections["replica"]) as on_replica,
        ):
            metrics = get_activity_metrics(now=now)
        assert on_default.captured_queries == []
        assert len(on_replica.captured_queries) == 1
        assert (metrics["dau"], metrics["wau"], metrics["mau"], metrics["total_users"]) == (
            1,
            2,
            3,
            5,
        )
        with CaptureQueriesContext(connections["default"]) as on_default:
            names = set(get_active_users(7, now=now).values_list("username", flat=True))
        assert names == {"replica0", "replica1"}
        assert on_default.captured_queries == []
    with override_settings(STRAWBERRY_ACTIVITY=settings):
        metrics = get_activity_metrics(now=now)
    assert (metrics["dau"], metrics["total_users"]) == (1, 2)


# -- METRICS_CACHE_SECONDS -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("alias", [None, "shared"])
def test_cache_seconds(alias: str | None) -> None:
    now = timezone.now()
    settings = {"METRICS_CACHE_SECONDS": 60, "CACHE_ALIAS": alias}
    with override_settings(STRAWBERRY_ACTIVITY=settings):
        stored_in("default", "table", now, [timedelta(hours=1), None])
        with CaptureQueriesContext(connection) as ctx:
            first = get_activity_metrics()
            second = get_activity_metrics()
        assert len(ctx.captured_queries) == 1
        assert second == first
        assert (first["dau"], first["total_users"]) == (1, 2)

        stored_in("default", "table", timezone.now(), [timedelta(hours=1)] * 3)
        # Still the cached numbers, for the default kind only.
        assert get_activity_metrics() == first
        assert get_activity_metrics(kind="transaction")["total_users"] == 5
        # An explicit now is never cached.
        assert get_activity_metrics(now=timezone.now())["dau"] == 4
        caches[alias or "default"].clear()
        assert get_activity_metrics()["dau"] == 4


@pytest.mark.django_db
def test_no_cache_by_default() -> None:
    with CaptureQueriesContext(connection) as ctx:
        get_activity_metrics()
        get_activity_metrics()
    assert len(ctx.captured_queries) == 2


# -- async ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("storage", ["table", "user_field"])
async def test_aget_activity_metrics(storage: str) -> None:
    try:
        with override_settings(STRAWBERRY_ACTIVITY=MODES[storage]):
            pop = await sync_to_async(build)(random.Random(3), storage)
            for kind in KINDS:
                metrics = await aget_activity_metrics(now=pop.now, kind=kind)
                assert metrics == oracle_metrics(pop, kind)
            current = await aget_activity_metrics()
            assert current["total_users"] == len(pop.users)
    finally:
        # The ORM ran in asgiref's sync thread: close its connection there, or PostgreSQL
        # cannot drop the test database at the end of the run.
        await sync_to_async(connections.close_all)()
