"""The storage contract (``BaseBackend``), held by every backend alike.

The same cases run against ``db`` (the package's tables, on SQLite or PostgreSQL) and
``memory``: the guard, monotonic timestamps, the stored time a refused write reports, the
ledger, counts, daily counts and pruning. Expected values are written out by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.test import override_settings

from strawberry_activity.backends import BaseBackend, Stored, get_backend
from strawberry_activity.backends.db import DatabaseBackend
from strawberry_activity.testing import MEMORY_BACKEND
from tests.testapp.models import User

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 10, 12, 0, tzinfo=dt_timezone.utc)
DAY = NOON.date()
COOLDOWN = timedelta(minutes=5)


@pytest.fixture(params=["db", "memory"])
def backend(request: pytest.FixtureRequest) -> Iterator[BaseBackend]:
    path = {"db": "strawberry_activity.backends.db.DatabaseBackend", "memory": MEMORY_BACKEND}
    with override_settings(STRAWBERRY_ACTIVITY={"BACKEND": path[request.param]}):
        yield get_backend()


def write(backend: BaseBackend, user: User, ts: datetime, *, force: bool = False) -> Stored:
    older_than = ts if force else ts - COOLDOWN
    return backend.write(user.pk, "default", ts, older_than=older_than, day=ts.date())


def days_of(backend: BaseBackend, start: date, end: date) -> list[int]:
    return [n for _, n in backend.daily_counts(1, start, end, "default", None)]


def test_first_write_stores_the_time(backend: BaseBackend, user: User) -> None:
    assert write(backend, user, NOON) == Stored(True, NOON)
    assert backend.last_activity(user.pk, "default") == NOON
    assert backend.last_activity(user.pk, "transaction") is None


def test_the_guard_refuses_within_the_cooldown_and_reports_the_stored_time(
    backend: BaseBackend, user: User
) -> None:
    write(backend, user, NOON)
    assert write(backend, user, NOON + timedelta(minutes=4)) == Stored(False, NOON)
    later = NOON + timedelta(minutes=5, seconds=1)
    assert write(backend, user, later) == Stored(True, later)


def test_an_older_time_never_moves_the_stored_one_back(backend: BaseBackend, user: User) -> None:
    write(backend, user, NOON)
    assert write(backend, user, NOON - timedelta(hours=1), force=True) == Stored(False, NOON)
    assert backend.last_activity(user.pk, "default") == NOON


def test_forced_writes_bypass_the_cooldown_but_stay_monotonic(
    backend: BaseBackend, user: User
) -> None:
    write(backend, user, NOON)
    soon = NOON + timedelta(seconds=1)
    assert write(backend, user, soon, force=True) == Stored(True, soon)
    assert write(backend, user, soon, force=True) == Stored(False, soon)


def test_kinds_are_separate(backend: BaseBackend, user: User) -> None:
    backend.write(user.pk, "transaction", NOON, older_than=NOON - COOLDOWN, day=None)
    assert backend.last_activity(user.pk, "transaction") == NOON
    assert backend.last_activity(user.pk, "default") is None


def test_the_ledger_holds_one_row_per_user_and_day(
    backend: BaseBackend, user: User, other: User
) -> None:
    write(backend, user, NOON)
    write(backend, user, NOON + timedelta(hours=1))
    backend.add_day(user.pk, "default", DAY)  # again: a no-op
    backend.add_day(other.pk, "default", DAY + timedelta(days=1))
    assert days_of(backend, DAY - timedelta(days=1), DAY + timedelta(days=1)) == [0, 1, 1]
    # A 2-day window counts each user once.
    weekly = backend.daily_counts(
        2, DAY + timedelta(days=1), DAY + timedelta(days=1), "default", None
    )
    assert weekly == [(DAY + timedelta(days=1), 2)]


def test_counts_in_one_call(backend: BaseBackend, user: User, other: User, staff: User) -> None:
    write(backend, user, NOON)
    write(backend, other, NOON - timedelta(days=3))
    windows = {"dau": NOON - timedelta(days=1), "wau": NOON - timedelta(days=7)}
    assert backend.counts(windows, "default", None) == {"total_users": 3, "dau": 1, "wau": 2}
    assert set(backend.active_users(windows["wau"], "default", None)) == {user, other}


def test_prune_deletes_only_older_days(backend: BaseBackend, user: User) -> None:
    for offset in range(3):
        backend.add_day(user.pk, "default", DAY + timedelta(days=offset))
    cutoff = DAY + timedelta(days=2)
    assert backend.prune(cutoff, dry_run=True) == 2
    assert days_of(backend, DAY, cutoff) == [1, 1, 1]
    assert backend.prune(cutoff) == 2
    assert days_of(backend, DAY, cutoff) == [0, 0, 1]


def test_the_database_backend_ignores_a_user_that_does_not_exist() -> None:
    backend = DatabaseBackend()
    assert backend.write(10**9, "default", NOON, older_than=NOON - COOLDOWN, day=DAY) == Stored(
        False, None
    )


def test_stored_kinds(backend: BaseBackend, user: User) -> None:
    assert backend.stored_kinds(None) == set()
    write(backend, user, NOON)
    backend.write(user.pk, "transaction", NOON, older_than=NOON - COOLDOWN, day=None)
    assert backend.stored_kinds(None) == {"default", "transaction"}
