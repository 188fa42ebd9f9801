"""touch_last_activity / atouch_last_activity: the one writer (SPEC §2, §4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity import atouch_last_activity, touch_last_activity
from strawberry_activity.models import ActivityDay, UserActivity
from tests.conftest import activity_writes
from tests.testapp.models import User

# The cooldown is remembered once a write commits: run these like production.
pytestmark = pytest.mark.django_db(transaction=True)


def stored(user: User, kind: str = "default") -> object:
    return (
        UserActivity.objects.filter(user=user, kind=kind)
        .values_list("last_activity_at", flat=True)
        .first()
    )


def test_first_touch_writes_and_returns_true(user: User) -> None:
    before = timezone.now()
    assert touch_last_activity(user) is True
    value = stored(user)
    assert value is not None
    assert before <= value <= timezone.now()  # type: ignore[operator]


def test_second_touch_within_cooldown_is_free(user: User) -> None:
    assert touch_last_activity(user) is True
    with CaptureQueriesContext(connection) as ctx:
        assert touch_last_activity(user) is False
    assert ctx.captured_queries == []


def test_force_bypasses_cooldown(user: User) -> None:
    touch_last_activity(user)
    first = stored(user)
    assert touch_last_activity(user, force=True) is True
    assert stored(user) > first  # type: ignore[operator]


def test_explicit_ts_is_stored(user: User) -> None:
    when = timezone.now() - timedelta(days=3)
    assert touch_last_activity(user, ts=when) is True
    assert stored(user) == when


def test_older_ts_never_moves_backwards(user: User) -> None:
    now = timezone.now()
    touch_last_activity(user, ts=now)
    for delta in (timedelta(seconds=1), timedelta(hours=2), timedelta(days=400)):
        assert touch_last_activity(user, ts=now - delta, force=True) is False
        assert stored(user) == now


def test_older_ts_with_cold_cooldown_does_not_move_backwards(user: User) -> None:
    from strawberry_activity import tracking

    now = timezone.now()
    touch_last_activity(user, ts=now)
    tracking.reset()  # a new process: the database guard alone holds
    assert touch_last_activity(user, ts=now - timedelta(hours=1)) is False
    assert stored(user) == now


def test_database_guard_holds_with_cold_caches(user: User) -> None:
    from strawberry_activity import tracking

    touch_last_activity(user)
    first = stored(user)
    tracking.reset()
    with CaptureQueriesContext(connection) as ctx:
        assert touch_last_activity(user) is False
    assert stored(user) == first
    # One guarded upsert that changed nothing (plus the read that learns the window).
    assert len(activity_writes(ctx)) == 1
    with CaptureQueriesContext(connection) as ctx:
        assert touch_last_activity(user) is False
    assert ctx.captured_queries == []  # the window was learned from the database


@pytest.mark.parametrize("who", [None, AnonymousUser(), User(username="unsaved")])
def test_none_anonymous_and_unsaved_users_are_ignored(who: object) -> None:
    with CaptureQueriesContext(connection) as ctx:
        assert touch_last_activity(who) is False
    assert ctx.captured_queries == []
    assert not UserActivity.objects.exists()


def test_deleted_user_is_ignored(user: User) -> None:
    pk = user.pk
    User.objects.filter(pk=pk).delete()
    assert touch_last_activity(user) is False
    assert not UserActivity.objects.filter(user_id=pk).exists()
    assert not ActivityDay.objects.filter(user_id=pk).exists()


def test_naive_ts_is_a_clear_error(user: User) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        touch_last_activity(user, ts=timezone.now().replace(tzinfo=None))
    assert not UserActivity.objects.exists()


def test_far_future_ts_is_rejected(user: User) -> None:
    with pytest.raises(ValueError, match="future"):
        touch_last_activity(user, ts=timezone.now() + timedelta(days=365))
    assert not UserActivity.objects.exists()


def test_small_clock_skew_is_accepted(user: User) -> None:
    ahead = timezone.now() + timedelta(seconds=30)
    assert touch_last_activity(user, ts=ahead) is True
    assert stored(user) == ahead


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ts": "2026-01-01"}, TypeError),
        ({"ts": 1700000000}, TypeError),
        ({"kind": 3}, TypeError),
        ({"kind": ""}, ValueError),
        ({"kind": "x" * 33}, ValueError),
        ({"kind": "bad\nkind"}, ValueError),
    ],
)
def test_wrong_arguments_raise(user: User, kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error):
        touch_last_activity(user, **kwargs)  # type: ignore[arg-type]
    assert not UserActivity.objects.exists()


def test_kind_records_itself_and_the_default(user: User, other: User) -> None:
    touch_last_activity(user, kind="transaction")
    touch_last_activity(other)
    assert stored(user, "transaction") is not None
    assert stored(user) is not None
    assert stored(other) is not None
    assert stored(other, "transaction") is None


def test_each_kind_has_its_own_cooldown(user: User) -> None:
    assert touch_last_activity(user) is True
    # The default kind is in its window; "transaction" is not.
    assert touch_last_activity(user, kind="transaction") is True
    assert stored(user, "transaction") is not None
    assert touch_last_activity(user, kind="transaction") is False


def test_touch_records_the_day_in_the_ledger(user: User) -> None:
    when = timezone.now() - timedelta(days=2)
    touch_last_activity(user, ts=when, force=True)
    day = timezone.localdate(when)
    assert list(ActivityDay.objects.values_list("user_id", "kind", "day")) == [
        (user.pk, "default", day)
    ]


@override_settings(STRAWBERRY_ACTIVITY={"USER_FIELD": "last_activity_at"})
def test_user_field_mode_writes_the_user_row(user: User) -> None:
    when = timezone.now() - timedelta(minutes=1)
    with CaptureQueriesContext(connection) as ctx:
        assert touch_last_activity(user, ts=when) is True
    user.refresh_from_db()
    assert user.last_activity_at == when
    assert not UserActivity.objects.exists()
    assert len(activity_writes(ctx)) == 1
    assert touch_last_activity(user, ts=when - timedelta(hours=1), force=True) is False
    user.refresh_from_db()
    assert user.last_activity_at == when


@override_settings(STRAWBERRY_ACTIVITY={"USER_FIELD": "last_activity_at"})
def test_user_field_mode_keeps_other_kinds_in_the_table(user: User) -> None:
    touch_last_activity(user, kind="transaction")
    user.refresh_from_db()
    assert user.last_activity_at is not None
    assert stored(user, "transaction") is not None
    assert not UserActivity.objects.filter(kind="default").exists()


@override_settings(STRAWBERRY_ACTIVITY={"EXCLUDE": "tests.hooks.is_staff"})
def test_excluded_user_is_never_written(staff: User) -> None:
    assert touch_last_activity(staff, force=True) is False
    assert not UserActivity.objects.exists()


@pytest.mark.asyncio
async def test_atouch_in_async_code() -> None:
    user = await User.objects.acreate(username="async")
    assert await atouch_last_activity(user) is True
    assert await atouch_last_activity(user) is False
    assert await UserActivity.objects.filter(user=user).aexists()


@pytest.mark.asyncio
async def test_atouch_validates_like_touch() -> None:
    user = await User.objects.acreate(username="async2")
    with pytest.raises(ValueError, match="timezone-aware"):
        await atouch_last_activity(user, ts=timezone.now().replace(tzinfo=None))


def test_memory_backend_fixture(activity: object, user: User) -> None:
    from strawberry_activity.backends.memory import MemoryBackend

    assert isinstance(activity, MemoryBackend)
    assert touch_last_activity(user) is True
    assert activity.last_activity(user.pk, "default") is not None
    assert not UserActivity.objects.exists()
