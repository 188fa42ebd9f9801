"""The two cooldown tiers (SPEC §4.1, §4.2, §4.4)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from strawberry_activity import touch_last_activity, tracking
from strawberry_activity.cooldown import Cooldown
from strawberry_activity.models import UserActivity
from tests.conftest import activity_writes
from tests.testapp.models import User

SHARED = {"CACHE_ALIAS": "shared"}


class Clock:
    """A controllable wall clock and monotonic clock for the local tier."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(time, "time", c)
    monkeypatch.setattr(time, "monotonic", c)
    return c


# -- tier 1: in process --------------------------------------------------------------------


def test_local_window_ends_after_cooldown(clock: Clock) -> None:
    cooldown = Cooldown(seconds=300, maxsize=10)
    cooldown.remember("k", written_at=clock.now)
    assert cooldown.active("k")
    clock.now += 299
    assert cooldown.active("k")
    clock.now += 1
    assert not cooldown.active("k")


def test_local_window_counts_from_the_write_not_from_now(clock: Clock) -> None:
    cooldown = Cooldown(seconds=300, maxsize=10)
    cooldown.remember("k", written_at=clock.now - 200)
    clock.now += 100
    assert not cooldown.active("k")
    cooldown.remember("old", written_at=clock.now - 301)
    assert not cooldown.active("old")


def test_local_tier_is_bounded(clock: Clock) -> None:
    cooldown = Cooldown(seconds=300, maxsize=100)
    for i in range(1000):
        cooldown.remember(i, written_at=clock.now)
    assert sum(cooldown.active(i) for i in range(1000)) == 100
    assert all(cooldown.active(i) for i in range(900, 1000))  # the newest stay


def test_forget(clock: Clock) -> None:
    cooldown = Cooldown(seconds=300, maxsize=10)
    cooldown.remember("a", written_at=clock.now)
    cooldown.remember("b", written_at=clock.now)
    cooldown.forget("a")
    assert not cooldown.active("a")
    assert cooldown.active("b")
    cooldown.forget()
    assert not cooldown.active("b")


# -- tier 2: shared between processes ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(STRAWBERRY_ACTIVITY=SHARED)
def test_shared_gate_makes_workers_write_once(user: User) -> None:
    workers = [tracking.Tracker() for _ in range(4)]  # four processes' state
    with CaptureQueriesContext(connection) as ctx:
        results = [w.touch(user, user.pk, ["default"], timezone.now(), False) for w in workers]
    assert results == [True, False, False, False]
    assert len(activity_writes(ctx)) == 1


@pytest.mark.django_db(transaction=True)
def test_without_shared_gate_every_worker_reaches_the_database(user: User) -> None:
    """The control for the test above: the database guard alone still writes once, but
    every worker issues its statement."""
    workers = [tracking.Tracker() for _ in range(4)]
    with CaptureQueriesContext(connection) as ctx:
        results = [w.touch(user, user.pk, ["default"], timezone.now(), False) for w in workers]
    assert results == [True, False, False, False]
    assert len(activity_writes(ctx)) == 4


@pytest.mark.django_db(transaction=True)
@override_settings(STRAWBERRY_ACTIVITY=SHARED)
def test_failed_write_gives_the_claim_back(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = tracking.Tracker()

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("database down")

    monkeypatch.setattr(worker.backend, "write", broken)
    assert worker.touch(user, user.pk, ["default"], timezone.now(), False) is False
    gate = Cooldown.shared_key((user.pk, "default", timezone.localdate()))
    assert caches["shared"].get(gate) is None
    monkeypatch.undo()
    assert tracking.Tracker().touch(user, user.pk, ["default"], timezone.now(), False) is True


@pytest.mark.django_db(transaction=True)
@override_settings(STRAWBERRY_ACTIVITY=SHARED)
def test_rollback_leaves_neither_tier_poisoned(user: User) -> None:
    with transaction.atomic():
        assert touch_last_activity(user) is True
        transaction.set_rollback(True)
    assert not UserActivity.objects.exists()
    gate = Cooldown.shared_key((user.pk, "default", timezone.localdate()))
    assert caches["shared"].get(gate) is None
    assert touch_last_activity(user) is True
    assert UserActivity.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
@override_settings(STRAWBERRY_ACTIVITY=SHARED)
def test_commit_inside_a_transaction_publishes_to_other_workers(user: User) -> None:
    with transaction.atomic():
        assert touch_last_activity(user) is True
    other_worker = tracking.Tracker()
    with CaptureQueriesContext(connection) as ctx:
        assert other_worker.touch(user, user.pk, ["default"], timezone.now(), False) is False
    assert activity_writes(ctx) == []


DOWN = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "s"},
    "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    },
}


@pytest.mark.django_db(transaction=True)
@override_settings(CACHES=DOWN, STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "down"})
def test_cache_down_falls_back_to_the_database_guard(
    user: User, other: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="strawberry_activity"):
        assert touch_last_activity(user) is True
        assert touch_last_activity(other) is True
        assert touch_last_activity(user) is False  # the local tier still works
    assert UserActivity.objects.count() == 2
    warnings = [r for r in caplog.records if r.name == "strawberry_activity"]
    assert len(warnings) == 1
    assert "cooldown cache" in warnings[0].getMessage()


# -- the protocol of a write: begin, then commit or abort ---------------------------------


def _processes() -> tuple[Cooldown, Cooldown]:
    """Two worker processes' cooldowns over one shared cache."""
    shared = caches["shared"]
    return Cooldown(300, 100, shared), Cooldown(300, 100, shared)


NOW = timezone.now()


def test_a_claim_keeps_other_processes_out_until_it_is_aborted() -> None:
    one, two = _processes()
    claim = one.begin(7, "default", NOW, force=False, look_only=False)
    assert claim is not None
    assert claim.claimed
    assert two.begin(7, "default", NOW, force=False, look_only=False) is None
    assert two.active((7, "default"))  # the holder's window, remembered locally
    claim.abort()
    _, three = _processes()
    assert three.begin(7, "default", NOW, force=False, look_only=False) is not None


def test_a_committed_claim_starts_the_local_window() -> None:
    one, _ = _processes()
    claim = one.begin(8, "default", NOW, force=False, look_only=False)
    assert claim is not None
    assert not one.active((8, "default"))  # not before the write committed
    claim.commit(written=True, stored_at=NOW.timestamp())
    assert one.active((8, "default"))


def test_inside_a_transaction_the_gate_is_only_looked_at() -> None:
    one, two = _processes()
    claim = one.begin(9, "default", NOW, force=False, look_only=True)
    assert claim is not None
    assert not claim.claimed
    assert two.begin(9, "default", NOW, force=False, look_only=False) is not None
    # Committed, a looked-at write is announced.
    claim.commit(written=True, stored_at=NOW.timestamp())
    _, three = _processes()
    assert three.begin(9, "default", NOW, force=False, look_only=False) is None


def test_a_forced_write_skips_the_gate() -> None:
    one, two = _processes()
    assert one.begin(10, "default", NOW, force=False, look_only=False) is not None
    forced = two.begin(10, "default", NOW, force=True, look_only=False)
    assert forced is not None
    assert not forced.claimed


def test_a_window_never_outlives_its_calendar_day() -> None:
    one, _ = _processes()
    late = NOW.replace(hour=23, minute=58, second=0, microsecond=0) - timedelta(days=1)
    early = late + timedelta(minutes=3)  # 00:01 the next day
    first = one.begin(11, "default", late, force=False, look_only=False)
    second = one.begin(11, "default", early, force=False, look_only=False)
    assert first is not None
    assert second is not None
    assert first.day != second.day
    assert first.day_end <= early.timestamp()
