"""backfill: set-based, idempotent, monotonic, fills the ledger (SPEC §8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.models import ActivityDay, UserActivity
from tests.testapp.models import Message, Transfer, User

pytestmark = pytest.mark.django_db

SOURCES = [
    {"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
    {"model": "testapp.Message", "user_field": "author", "timestamp_field": "created_at"},
]


def population(n: int) -> dict[int, object]:
    """n users with transfers and messages; returns each user's newest source time."""
    now = timezone.now()
    expected = {}
    for i in range(n):
        u = User.objects.create(username=f"u{n}-{i}")
        times = [now - timedelta(days=i % 9, hours=h) for h in (1, 5)]
        Transfer.objects.create(sender=u, created_at=times[0])
        Message.objects.create(author=u, created_at=times[1] - timedelta(hours=i % 3))
        expected[u.pk] = max(times[0], times[1] - timedelta(hours=i % 3))
    return expected


def run(**kwargs: object) -> dict[str, int]:
    backend = get_backend()
    return backend.backfill(
        SOURCES,
        timezone.now() - timedelta(days=365),
        "default",
        day_timezone="UTC",
        batch_size=int(kwargs.pop("batch_size", 1000)),  # type: ignore[call-overload]
        **kwargs,  # type: ignore[arg-type]
    )


def test_sets_latest_source_time_and_ledger() -> None:
    expected = population(12)
    counts = run()
    stored = dict(UserActivity.objects.values_list("user_id", "last_activity_at"))
    assert stored == expected
    assert counts["users"] == 12
    assert counts["updated"] == 12
    # Every (user, day) of a source row is in the ledger, once.
    days = {(t.sender_id, t.created_at.date()) for t in Transfer.objects.all()} | {
        (m.author_id, m.created_at.date()) for m in Message.objects.all()
    }
    assert set(ActivityDay.objects.values_list("user_id", "day")) == days
    assert counts["days"] == len(days)


def test_idempotent_and_monotonic() -> None:
    expected = population(5)
    newer = timezone.now()
    first = next(iter(expected))
    UserActivity.objects.create(user_id=first, last_activity_at=newer)
    run()
    assert UserActivity.objects.get(user_id=first).last_activity_at == newer
    before = list(UserActivity.objects.order_by("pk").values_list())
    ledger = ActivityDay.objects.count()
    again = run()
    assert again["updated"] == 0
    assert again["days"] == 0
    assert list(UserActivity.objects.order_by("pk").values_list()) == before
    assert ActivityDay.objects.count() == ledger


def test_dry_run_writes_nothing() -> None:
    population(4)
    counts = run(dry_run=True)
    assert counts["updated"] == 4
    assert counts["days"] > 0
    assert not UserActivity.objects.exists()
    assert not ActivityDay.objects.exists()


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_batches_give_the_same_result(batch_size: int) -> None:
    expected = population(7)
    run(batch_size=batch_size)
    assert dict(UserActivity.objects.values_list("user_id", "last_activity_at")) == expected


def test_statements_do_not_grow_with_users() -> None:
    population(3)
    with CaptureQueriesContext(connection) as small:
        run()
    UserActivity.objects.all().delete()
    ActivityDay.objects.all().delete()
    population(40)
    with CaptureQueriesContext(connection) as large:
        run()
    assert len(large.captured_queries) == len(small.captured_queries)


@override_settings(STRAWBERRY_ACTIVITY={"USER_FIELD": "last_activity_at"})
def test_user_field_mode() -> None:
    expected = population(6)
    counts = run()
    assert counts["updated"] == 6
    stored = dict(User.objects.filter(pk__in=expected).values_list("pk", "last_activity_at"))
    assert stored == expected
    assert not UserActivity.objects.exists()
    assert run()["updated"] == 0
