"""The ledger partitioned by month (strawberry_activity/sql/partition_ledger.sql,
docs/partitioning.md), on PostgreSQL.

The same scenario runs twice from the same data: on the plain ledger (in a savepoint, rolled
back), then on the ledger converted by the recipe: touches (new days and days already
there), the series, retention, lifecycle and power users, a backfill that reaches back before
the first partition, a prune. Every answer must be the same, every row must sit in its
month's partition, and the cron functions must add and drop months. PostgreSQL DDL is
transactional: the conversion rolls back with the test. The last test breaks the recipe's
result on purpose (a month missing, the unique constraint lost) and checks that the same
checks then fail.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from strawberry_activity import (
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    touch_last_activity,
    tracking,
)
from strawberry_activity.metrics import local_today
from strawberry_activity.models import ActivityDay
from strawberry_activity.sql import partition_ledger
from tests.testapp.models import Message, Transfer, User

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

LEDGER = "strawberry_activity_activityday"
SOURCES = [
    {"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
    {"model": "testapp.Message", "user_field": "author", "timestamp_field": "created_at"},
]
# Every answer from the ledger itself, not from rollups computed before the conversion; no
# write dropped for a 50 ms timeout on a busy machine.
SETTINGS = {"ROLLUPS": False, "ACTIVITY_SOURCES": SOURCES, "DB_TIMEOUT": None}
KINDS = ("default", "transaction")


def month_start(day: date, months: int = 0) -> date:
    n = day.year * 12 + day.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def sql(statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def touch(instants: list[tuple[User, datetime, str]]) -> None:
    tracking.reset()
    with override_settings(STRAWBERRY_ACTIVITY=SETTINGS):
        for user, instant, kind in instants:
            touch_last_activity(user, ts=instant, force=True, kind=kind)


def ledger() -> set[tuple[int, str, date]]:
    return set(ActivityDay.objects.values_list("user_id", "kind", "day"))


def answers() -> dict[str, Any]:
    """Everything the package reads from the ledger, over the last 120 days."""
    today = local_today()
    start = today - timedelta(days=120)
    out: dict[str, Any] = {"ledger": ledger()}
    for kind in KINDS:
        for metric in ("dau", "wau", "mau"):
            out[f"{metric} {kind}"] = get_activity_series(metric, start, today, kind=kind)
        # "day" over 120 days takes the window-function SQL, week and month the bit masks.
        for period in ("day", "week", "month"):
            out[f"retention {period} {kind}"] = get_retention(
                start, today, period=period, kind=kind
            )
            out[f"lifecycle {period} {kind}"] = get_lifecycle(
                start, today, period=period, kind=kind
            )
        for days in (28, 90):
            out[f"power {days} {kind}"] = get_power_users(days=days, kind=kind)
    return out


class Scenario:
    """24 users: activity over the last 150 days (before the conversion), more activity and
    source rows up to 200 days old (the backfill reaches before the first partition)."""

    def __init__(self, seed: int = 13) -> None:
        rng = random.Random(seed)
        now = timezone.now()
        self.users = [User.objects.create(username=f"p{i}") for i in range(24)]
        self.first: list[tuple[User, datetime, str]] = []
        self.later: list[tuple[User, datetime, str]] = []
        for user in self.users:
            for _ in range(rng.choice([1, 3, 6, 12])):
                instant = now - timedelta(seconds=rng.randrange(0, 150 * 86400))
                self.first.append((user, instant, rng.choice(KINDS)))
            for _ in range(rng.choice([0, 2, 4])):
                instant = now - timedelta(seconds=rng.randrange(0, 150 * 86400))
                self.later.append((user, instant, rng.choice(KINDS)))
            if rng.random() < 0.5:
                Transfer.objects.create(
                    sender=user, created_at=now - timedelta(days=rng.randrange(0, 200))
                )
                Message.objects.create(
                    author=user, created_at=now - timedelta(days=rng.randrange(150, 200))
                )
        # Days already in the ledger come again: ON CONFLICT must still find its constraint.
        self.later += self.first[::5]
        touch(self.first)

    def run(self, between: Callable[[str], None] = lambda stage: None) -> list[dict[str, Any]]:
        """The scenario after the first touches; ``between(stage)`` after each stage."""
        stages = []
        touch(self.later)
        expected = {(u.pk, k, t.date()) for u, t, k in self.first + self.later} | {
            (u.pk, "default", t.date()) for u, t, k in self.first + self.later
        }
        assert ledger() == expected  # an independent count of the touches
        between("touched")
        stages.append(answers())
        call_command(
            "backfill_last_activity", "--days", "365", stdout=io.StringIO(), stderr=io.StringIO()
        )
        between("backfilled")
        stages.append(answers())
        call_command("prune_activity", "--older-than", "100", stdout=io.StringIO())
        between("pruned")
        stages.append(answers())
        return stages


def convert() -> None:
    with connection.schema_editor() as editor:
        partition_ledger(django_apps, editor)


def placement() -> dict[tuple[str, date], str]:
    """(kind, day) -> the partition holding it, for every ledger row."""
    rows = sql(f"SELECT kind, day, tableoid::regclass::text FROM {LEDGER}")
    return {(kind, day): where for kind, day, where in rows}


def partitions() -> dict[str, str]:
    rows = sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        LEDGER,
    )
    return dict(rows)


def check_layout(first_month: date) -> None:
    """Partitioned by day, same keys and indexes, every row in its month (or DEFAULT before
    the first one)."""
    assert sql("SELECT relkind FROM pg_class WHERE oid = %s::regclass", LEDGER) == [("p",)]
    constraints = sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass ORDER BY conname",
        LEDGER,
    )
    assert [(name, d) for name, d in constraints if not d.startswith("FOREIGN KEY")] == [
        (f"{LEDGER}_pkey", "PRIMARY KEY (id, day)"),
        ("strawberry_activity_user_kind_day", "UNIQUE (user_id, kind, day)"),
    ]
    assert [d for _, d in constraints if d.startswith("FOREIGN KEY")] == [
        "FOREIGN KEY (user_id) REFERENCES testapp_user(id) DEFERRABLE INITIALLY DEFERRED"
    ]
    indexes = sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", LEDGER)
    assert sorted(name for name, _ in indexes) == [
        f"{LEDGER}_pkey",
        "strawberry_activity_day",
        "strawberry_activity_user_kind_day",
    ]
    assert dict(indexes)["strawberry_activity_day"].endswith("USING btree (kind, day, user_id)")
    # One partition per month from the first to 3 months ahead (at least), and a DEFAULT.
    bounds = partitions()
    assert bounds.pop(f"{LEDGER}_default") == "DEFAULT"
    month, last = first_month, month_start(local_today(), 3)
    while month <= last:
        nxt = month_start(month, 1)
        assert bounds.pop(f"{LEDGER}_p{month:%Y%m}", None) == (
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{nxt.isoformat()}')"
        ), month
        month = nxt
    assert all(name > f"{LEDGER}_p{last:%Y%m}" for name in bounds), bounds
    for (_, day), where in placement().items():
        month = f"{LEDGER}_p{day:%Y%m}" if day >= first_month else f"{LEDGER}_default"
        assert where == month, (day, where)


def sabotage_ledger(sabotage: str) -> None:
    if sabotage == "a month missing":
        sql(f"ALTER TABLE {LEDGER} DETACH PARTITION {LEDGER}_p{local_today():%Y%m}")
    elif sabotage == "the unique constraint lost":
        sql(f"ALTER TABLE {LEDGER} DROP CONSTRAINT strawberry_activity_user_kind_day")
    else:
        raise ValueError(sabotage)


def check_partitioned(
    scenario: Scenario,
    expected: list[dict[str, Any]],
    sabotage: str | None = None,
    *,
    layout: bool = True,
) -> None:
    """Convert, then run the scenario: the same answers as ``expected`` (the plain ledger's)
    and, with ``layout``, the keys, indexes and partitions checked after each stage."""
    first_month = [month_start(min(day for _, _, day in ledger()))]
    convert()
    if sabotage is not None:
        sabotage_ledger(sabotage)

    def between(stage: str) -> None:
        if layout:
            check_layout(first_month[0])
        if stage == "backfilled":
            # Source rows before the first partition landed in DEFAULT: a partition for
            # their month moves them there (and changes no answer).
            oldest = min(day for _, _, day in ledger())
            assert oldest < first_month[0]
            before = answers()
            created = sql("SELECT strawberry_activity_add_ledger_partitions(0, %s)", oldest)
            months = (first_month[0].year - oldest.year) * 12 + first_month[0].month - oldest.month
            assert created == [(months,)]
            first_month[0] = month_start(oldest)
            if layout:
                check_layout(first_month[0])
                assert f"{LEDGER}_default" not in set(placement().values())
            assert answers() == before

    between("converted")
    with override_settings(STRAWBERRY_ACTIVITY=SETTINGS):
        assert scenario.run(between) == expected


@pytest.fixture
def scenario() -> Scenario:
    return Scenario()


@pytest.fixture
def expected(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario's answers on the plain ledger, then rolled back."""
    stages: list[dict[str, Any]] = []
    with override_settings(STRAWBERRY_ACTIVITY=SETTINGS), transaction.atomic():
        stages = scenario.run()
        transaction.set_rollback(True)
    tracking.reset()
    assert len(stages[0]["ledger"]) > len(stages[2]["ledger"]) > 100
    return stages


def test_the_package_works_unchanged_on_the_partitioned_ledger(
    scenario: Scenario, expected: list[dict[str, Any]]
) -> None:
    check_partitioned(scenario, expected)
    # Ids go on from the old sequence, through the parent.
    (top,) = sql(f"SELECT max(id) FROM {LEDGER}")[0]
    row = ActivityDay.objects.create(user=scenario.users[0], kind="x", day=local_today())
    assert row.pk > top
    # Deleting a user deletes their rows (Django's cascade, then the deferred key).
    ActivityDay.objects.filter(pk=row.pk).delete()
    scenario.users[1].delete()
    assert not ActivityDay.objects.filter(user_id=scenario.users[1].pk).exists()


def test_cron_functions_add_and_drop_months(scenario: Scenario) -> None:
    convert()
    today = local_today()
    names = set(partitions())
    assert f"{LEDGER}_default" in names
    assert {f"{LEDGER}_p{month_start(today, n):%Y%m}" for n in range(4)} <= names
    assert f"{LEDGER}_p{month_start(today, 4):%Y%m}" not in names
    assert sql("SELECT strawberry_activity_add_ledger_partitions(6)") == [(3,)]
    assert sql("SELECT strawberry_activity_add_ledger_partitions(6)") == [(0,)]
    bounds = partitions()
    for n in range(4, 7):
        first, nxt = month_start(today, n), month_start(today, n + 1)
        assert bounds[f"{LEDGER}_p{first:%Y%m}"] == (
            f"FOR VALUES FROM ('{first.isoformat()}') TO ('{nxt.isoformat()}')"
        )
    # Running the whole file again keeps the data and adds nothing but missing months.
    before = ledger()
    convert()
    assert ledger() == before
    assert set(partitions()) == set(bounds)

    # Whole months before a day go with their partition, nothing else does.
    cut = month_start(today, -2)
    dropped = sql("SELECT strawberry_activity_drop_ledger_partitions(%s)", cut)[0][0]
    assert dropped >= 2
    assert ledger() == {row for row in before if row[2] >= cut}
    assert min(name for name in partitions() if name != f"{LEDGER}_default") == (
        f"{LEDGER}_p{cut:%Y%m}"
    )


def test_the_functions_refuse_a_plain_table(db: None) -> None:
    convert()
    with pytest.raises(DatabaseError, match="not partitioned"), transaction.atomic():
        sql("SELECT strawberry_activity_add_ledger_partitions(1, NULL, 'testapp_user')")


SABOTAGES = ["a month missing", "the unique constraint lost"]


@pytest.mark.parametrize("sabotage", SABOTAGES)
def test_the_layout_check_catches_a_broken_conversion(scenario: Scenario, sabotage: str) -> None:
    first_month = month_start(min(day for _, _, day in ledger()))
    convert()
    check_layout(first_month)
    sabotage_ledger(sabotage)
    with pytest.raises(AssertionError):
        check_layout(first_month)


@pytest.mark.parametrize("sabotage", SABOTAGES)
def test_the_answers_alone_catch_a_broken_conversion(
    scenario: Scenario, expected: list[dict[str, Any]], sabotage: str
) -> None:
    with pytest.raises((AssertionError, DatabaseError)):
        check_partitioned(scenario, expected, sabotage, layout=False)
