"""Every transaction mode (SPEC §4.9): autocommit, ``atomic()``, ``ATOMIC_REQUESTS`` and
manual transaction management. Tracking never raises into the caller and never leaves the
caller's transaction aborted: each statement it runs inside the caller's transaction runs
in a savepoint, reads included.

PostgreSQL is where this matters: a failed statement aborts the whole transaction there
and every later statement of the caller fails (or, under ``ATOMIC_REQUESTS``, the response
is a 200 whose rows are silently rolled back at COMMIT).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity import touch_last_activity, tracking
from strawberry_activity.models import ActivityDay, UserActivity
from tests.testapp.models import User

pytestmark = pytest.mark.django_db(transaction=True)

TABLE = UserActivity._meta.db_table


@contextmanager
def failing(matches: Callable[[str], bool]) -> Iterator[list[str]]:
    """Make the database reject every statement ``matches`` picks: it runs a statement
    that fails on the server (division by zero) instead, a real error that aborts the
    surrounding transaction on PostgreSQL."""
    failed: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if matches(sql):
            failed.append(sql)
            return execute(
                "SELECT 1 / (SELECT COUNT(*) - COUNT(*) FROM auth_group)", (), many, context
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield failed


def reads_activity(sql: str) -> bool:
    return sql.startswith("SELECT") and TABLE in sql


def writes_activity(sql: str) -> bool:
    return sql.startswith("INSERT") and TABLE in sql


def stored_recently(user: User) -> None:
    """A stored time inside the cooldown that this process does not remember (another
    worker wrote it): the next touch reaches the database guard, which refuses it."""
    touch_last_activity(user, ts=timezone.now() - timedelta(seconds=10))
    tracking.reset()


def test_every_statement_inside_a_transaction_runs_in_a_savepoint(user: User) -> None:
    stored_recently(user)
    outside_savepoint: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "strawberry_activity" in sql and not connection.savepoint_ids:
            outside_savepoint.append(sql)
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(wrapper):
        assert touch_last_activity(user) is False  # the guard refused: the stored time is read
        touch_last_activity(user, force=True)
    assert outside_savepoint == []


@pytest.mark.postgres
def test_a_failing_read_leaves_the_callers_transaction_usable(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    stored_recently(user)
    with caplog.at_level(logging.WARNING, logger="strawberry_activity"), transaction.atomic():
        User.objects.create_user("before")
        with failing(reads_activity) as failed:
            assert touch_last_activity(user) is False
        assert failed, "the stored time was not read: the test exercises nothing"
        User.objects.create_user("after")
    assert set(User.objects.values_list("username", flat=True)) >= {"before", "after"}
    assert [r.name for r in caplog.records] == ["strawberry_activity"]


@pytest.mark.postgres
def test_a_failing_write_leaves_the_callers_transaction_usable(user: User) -> None:
    with transaction.atomic():
        User.objects.create_user("before")
        with failing(writes_activity) as failed:
            assert touch_last_activity(user) is False
        assert failed
        User.objects.create_user("after")
    assert User.objects.filter(username__in=["before", "after"]).count() == 2
    # Not remembered: the next touch writes.
    assert touch_last_activity(user) is True


@contextmanager
def manual_transactions() -> Iterator[None]:
    """``set_autocommit(False)``, as under ``DATABASES[...]["AUTOCOMMIT"] = False``."""
    transaction.set_autocommit(False)
    try:
        yield
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)


def test_manual_transaction_management_records_and_never_raises(user: User) -> None:
    with manual_transactions():
        User.objects.create_user("mine")
        assert touch_last_activity(user) is True
        User.objects.create_user("mine too")
        transaction.commit()
    assert UserActivity.objects.filter(user=user).exists()
    assert User.objects.filter(username__in=["mine", "mine too"]).count() == 2


def test_manual_transaction_rolled_back_leaves_the_user_to_record(user: User) -> None:
    with manual_transactions():
        assert touch_last_activity(user) is True
        transaction.rollback()
        assert touch_last_activity(user) is True  # not kept in cooldown: it never committed
        transaction.commit()
    assert UserActivity.objects.filter(user=user).exists()


@pytest.mark.postgres
def test_manual_transaction_with_a_failing_write_stays_usable(user: User) -> None:
    with manual_transactions():
        User.objects.create_user("mine")
        with failing(writes_activity) as failed:
            assert touch_last_activity(user) is False
        assert failed
        User.objects.create_user("mine too")
        transaction.commit()
    assert User.objects.filter(username__in=["mine", "mine too"]).count() == 2


# -- DB_TIMEOUT: a lock held elsewhere costs the request at most the bound ----------------


@contextmanager
def held(statement: str) -> Iterator[None]:
    """``statement`` run in another session's open transaction (a migration, a VACUUM
    FULL, another worker's long transaction), held for the block."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(statement)
            yield
            cursor.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE",
        f"SELECT * FROM {TABLE} FOR UPDATE",
        f"LOCK TABLE {ActivityDay._meta.db_table} IN ACCESS EXCLUSIVE MODE",
    ],
    ids=["activity-table", "user-row", "ledger-table"],
)
def test_a_lock_held_elsewhere_costs_at_most_the_timeout(
    statement: str, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    touch_last_activity(user, ts=timezone.now() - timedelta(days=1))  # the row exists
    tracking.reset()
    with caplog.at_level(logging.WARNING, logger="strawberry_activity"), held(statement):
        started = time.monotonic()
        assert touch_last_activity(user) is False
        elapsed = time.monotonic() - started
        with transaction.atomic():  # and inside the caller's transaction, which goes on
            assert touch_last_activity(user) is False
            User.objects.create_user("after")
    assert elapsed < 1.0  # DB_TIMEOUT is 0.05 s; the rest is slack for a loaded machine
    assert User.objects.filter(username="after").exists()
    assert len(caplog.records) == 1  # rate-limited: one line for the same cause
    # Not remembered while the lock was held: once it is gone, the next touch writes.
    assert touch_last_activity(user) is True


@pytest.mark.postgres
def test_the_callers_own_limits_are_restored(user: User) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '7s'")
        cursor.execute("SET LOCAL statement_timeout = '9s'")
        assert touch_last_activity(user) is True
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
        )
        assert cursor.fetchone() == ("7s", "9s")


@pytest.mark.postgres
def test_a_locked_table_opens_the_database_breaker(
    user: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A migration holding the table: the first cold writes pay DB_TIMEOUT, then writes are
    skipped with no statement at all, and after the retry delay the next write goes in."""
    users = [User.objects.create_user(f"cold{i}") for i in range(20)]
    tracker = tracking.tracker()
    with (
        caplog.at_level(logging.WARNING, logger="strawberry_activity"),
        held(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE"),
    ):
        for cold in users[: tracking.DATABASE_BREAKER_FAILURES]:
            assert touch_last_activity(cold) is False
        assert tracker.database.state == "open"
        started = time.monotonic()
        with CaptureQueriesContext(connection) as ctx:
            for cold in users[tracking.DATABASE_BREAKER_FAILURES :]:
                assert touch_last_activity(cold) is False
        assert ctx.captured_queries == []
        assert time.monotonic() - started < 0.5
    later = time.monotonic() + tracking.DATABASE_BREAKER_RETRY_AFTER
    monkeypatch.setattr("strawberry_activity.breaker.time.monotonic", lambda: later)
    assert touch_last_activity(users[-1]) is True  # the probe: the table is free again
    assert tracker.database.state == "closed"
    assert touch_last_activity(user) is True
    # One line per cause: the timeouts, and the skipped writes.
    assert len(caplog.records) == 2, [r.getMessage() for r in caplog.records]
