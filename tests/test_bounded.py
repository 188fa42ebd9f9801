"""The shared gate is never in the way (issue 15): every call is bounded by CACHE_TIMEOUT
whatever CACHES says, and a circuit breaker skips a failing gate after a few failures.

The fault tests put a local TCP proxy (``loadtest.netfaults.FaultProxy``) in front of the
real Redis and make it hang (accept, never answer) or slow (2 s per packet): the first cold
users pay about the timeout, the breaker opens and the next ones pay ~nothing, the database
guard records everybody; once the fault ends, the breaker closes and the gate is used again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.checks import Error, Warning
from django.test import override_settings
from django.utils import timezone

from strawberry_activity import cooldown as cooldown_module
from strawberry_activity import touch_last_activity, tracking
from strawberry_activity.checks import check_settings
from strawberry_activity.cooldown import CacheUnavailable, Cooldown, bounded_cache
from strawberry_activity.models import UserActivity
from tests.testapp.models import User

# -- the circuit breaker, on a cache that fails on demand -----------------------------------


class FlakyCache:
    """Enough of a Django cache for the gate; raises while ``down``; counts its calls."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.data: dict[str, Any] = {}
        self.hold: threading.Event | None = None  # blocks every call until set

    def _call(self) -> None:
        self.calls += 1
        if self.hold is not None:
            self.hold.wait(5)
        if self.down:
            raise ConnectionError("refused")

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        self._call()
        return self.data.setdefault(key, value) is value

    def get(self, key: str) -> Any:
        self._call()
        return self.data.get(key)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self._call()
        self.data[key] = value

    def delete(self, key: str) -> None:
        self._call()
        self.data.pop(key, None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(time, "monotonic", c)
    return c


def gate_of(cache: FlakyCache) -> Cooldown:
    return Cooldown(seconds=300, maxsize=100, shared=cache)  # type: ignore[arg-type]


def opened(cache: FlakyCache) -> Cooldown:
    """A gate whose breaker the failing cache has just opened (3 failures in a row)."""
    cooldown = gate_of(cache)
    cache.down = True
    for user in range(cooldown_module.BREAKER_FAILURES):
        with pytest.raises(CacheUnavailable):
            claim(cooldown, user)
    return cooldown


def claim(cooldown: Cooldown, user: int) -> float | None:
    return cooldown.claim((user, "default", "2026-01-01"), now=time.time())


def test_breaker_opens_after_failures_in_a_row_and_then_costs_no_call(clock: Clock) -> None:
    cache = FlakyCache()
    cooldown = gate_of(cache)
    assert claim(cooldown, 1) is None
    assert cooldown.breaker == "closed"
    cache.down = True
    for user in range(2, 2 + cooldown_module.BREAKER_FAILURES):
        with pytest.raises(CacheUnavailable, match="ConnectionError: refused"):
            claim(cooldown, user)
    assert cooldown.breaker == "open"
    calls = cache.calls
    for user in range(100, 200):  # skipped: no call reaches the cache
        with pytest.raises(CacheUnavailable, match=r"skipped for 10\.0 s more after 3 failures"):
            claim(cooldown, user)
        with pytest.raises(CacheUnavailable):
            cooldown.publish((user, "default", "d"), time.time())
        with pytest.raises(CacheUnavailable):
            cooldown.release((user, "default", "d"))
    assert cache.calls == calls


def test_failures_must_be_in_a_row() -> None:
    cache = FlakyCache()
    cooldown = gate_of(cache)
    for user in range(20):
        cache.down = user % 3 != 2  # two failures, one success, ...
        with contextlib.suppress(CacheUnavailable):
            claim(cooldown, user)
        assert cooldown.breaker == "closed"


def test_half_open_probe_closes_on_success_and_reopens_on_failure(clock: Clock) -> None:
    cache = FlakyCache()
    cooldown = opened(cache)
    clock.now += cooldown_module.BREAKER_RETRY_AFTER
    assert cooldown.breaker == "half-open"
    calls = cache.calls
    with pytest.raises(CacheUnavailable, match="refused"):  # the probe fails: open again
        claim(cooldown, 10)
    assert cache.calls == calls + 1
    assert cooldown.breaker == "open"
    with pytest.raises(CacheUnavailable, match="skipped"):
        claim(cooldown, 11)
    clock.now += cooldown_module.BREAKER_RETRY_AFTER
    cache.down = False
    assert claim(cooldown, 12) is None  # the probe succeeds: closed
    assert cooldown.breaker == "closed"
    assert claim(cooldown, 13) is None
    # One failure after closing does not reopen it: the count starts again.
    cache.down = True
    with pytest.raises(CacheUnavailable):
        claim(cooldown, 14)
    assert cooldown.breaker == "closed"


def test_one_probe_at_a_time(clock: Clock) -> None:
    cache = FlakyCache()
    cooldown = opened(cache)
    clock.now += cooldown_module.BREAKER_RETRY_AFTER
    cache.down = False
    cache.hold = threading.Event()
    probe = threading.Thread(target=claim, args=(cooldown, 50))
    probe.start()
    deadline = time.perf_counter() + 5
    while cache.calls < 4 and time.perf_counter() < deadline:
        time.sleep(0.001)
    # While the probe waits on the cache, everybody else skips the gate at once.
    assert cooldown.breaker == "half-open"
    with pytest.raises(CacheUnavailable, match="skipped"):
        claim(cooldown, 51)
    assert cache.calls == 4
    cache.hold.set()
    probe.join(5)
    assert cooldown.breaker == "closed"


def test_forget_starts_over_like_a_fresh_worker() -> None:
    cache = FlakyCache()
    cooldown = opened(cache)
    assert cooldown.breaker == "open"
    cooldown.forget()
    assert cooldown.breaker == "closed"


@pytest.mark.django_db(transaction=True)
def test_open_breaker_writes_through_the_database_guard_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FlakyCache()
    cache.down = True
    monkeypatch.setattr(cooldown_module, "bounded_cache", lambda alias: cache)
    monkeypatch.setattr(tracking, "bounded_cache", lambda alias: cache)
    users = [User.objects.create_user(f"u{i}") for i in range(20)]
    UserActivity.objects.all().delete()
    with override_settings(STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "shared"}):
        tracking.reset()
        caplog.clear()
        for user in users:
            assert touch_last_activity(user) is True
        assert tracking.tracker().cooldown.breaker == "open"
    assert cache.calls == cooldown_module.BREAKER_FAILURES
    assert UserActivity.objects.count() == len(users)
    warnings = [r for r in caplog.records if r.name == "strawberry_activity"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "CacheUnavailable: ConnectionError: refused" in warnings[0].getMessage()


# -- bounded_cache: the timeouts whatever CACHES says -------------------------------------

SLOW_CONFIG = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:6390/3?socket_timeout=30",
    "KEY_PREFIX": "p",
    "VERSION": 4,
    "OPTIONS": {"socket_timeout": 30, "retry_on_timeout": True, "db": 3},
}


def _pool_kwargs(cache: Any) -> dict[str, Any]:
    if hasattr(cache, "_cache"):  # Django's RedisCache
        pool = cache._cache.get_client(write=True).connection_pool
    else:  # django-redis
        pool = cache.client.get_client(write=True).connection_pool
    kwargs: dict[str, Any] = pool.connection_kwargs
    return kwargs


@pytest.mark.parametrize("backend", ["django", "django_redis"])
def test_bounded_cache_overrides_the_projects_timeouts(backend: str) -> None:
    config = dict(SLOW_CONFIG)
    if backend == "django_redis":
        pytest.importorskip("django_redis")
        config = {
            **config,
            "BACKEND": "django_redis.cache.RedisCache",
            "OPTIONS": {
                "SOCKET_TIMEOUT": 30,
                "IGNORE_EXCEPTIONS": True,
                "CONNECTION_POOL_KWARGS": {"retry_on_timeout": True},
            },
        }
    with override_settings(
        CACHES={**settings.CACHES, "slow": config},
        STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "slow", "CACHE_TIMEOUT": 0.07},
    ):
        cache = bounded_cache("slow")
        kwargs = _pool_kwargs(cache)
        assert kwargs["socket_timeout"] == 0.07
        assert kwargs["socket_connect_timeout"] == 0.07
        assert kwargs["retry"]._retries == 0  # get_retries() is redis-py 6+
        # The same keys as the project's own instance of the alias.
        assert cache.make_key("k") == caches["slow"].make_key("k") == "p:4:k"
        # Built once per configuration, rebuilt when it changes.
        assert bounded_cache("slow") is cache
        assert tracking.tracker().cooldown.shared is cache
        with override_settings(STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "slow"}):
            again = bounded_cache("slow")
            assert again is not cache
            assert _pool_kwargs(again)["socket_timeout"] == 0.05


def test_in_process_caches_are_used_as_they_are() -> None:
    assert bounded_cache("default") is caches["default"]


@pytest.mark.parametrize(
    ("backend", "warned"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", False),
        ("django.core.cache.backends.redis.RedisCache", False),
        ("django.core.cache.backends.filebased.FileBasedCache", True),
        ("django.core.cache.backends.memcached.PyMemcacheCache", True),
    ],
)
def test_check_warns_when_the_gate_cannot_be_bounded(backend: str, warned: bool) -> None:
    config = {"BACKEND": backend, "LOCATION": "/tmp/sa-cache" if "file" in backend else ""}
    with override_settings(
        CACHES={**settings.CACHES, "gate": config}, STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "gate"}
    ):
        found = [m for m in check_settings() if m.id == "strawberry_activity.W003"]
    assert bool(found) is warned
    if warned:
        assert isinstance(found[0], Warning)
        assert backend in found[0].msg


@pytest.mark.parametrize("value", [0, -1, "50ms", None, True])
def test_check_cache_timeout(value: Any) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"CACHE_TIMEOUT": value}):
        found = [m for m in check_settings() if m.id == "strawberry_activity.E022"]
    assert len(found) == 1
    assert isinstance(found[0], Error)
    assert "seconds > 0" in found[0].msg


# -- a hung and a slow Redis, through a local proxy in front of the real one --------------

TIMEOUT = 0.5  # long enough to tell "paid the timeout" from "paid nothing" on a busy box
RETRY_AFTER = 1.0


@pytest.fixture
def proxy() -> Iterator[Any]:
    from loadtest.netfaults import FaultProxy

    url = urlsplit(settings.REDIS_URL)
    with FaultProxy(url.port or 6379, upstream_host=url.hostname or "127.0.0.1") as p:
        yield p


def proxied(proxy: Any, backend: str) -> dict[str, Any]:
    """The project's CACHES with a gate through the proxy, and no timeout of its own."""
    db = urlsplit(settings.REDIS_URL).path or "/0"
    path = {
        "django": "django.core.cache.backends.redis.RedisCache",
        "django_redis": "django_redis.cache.RedisCache",
    }[backend]
    return {
        **settings.CACHES,
        "gate": {"BACKEND": path, "LOCATION": f"redis://127.0.0.1:{proxy.port}{db}"},
    }


def touch_timed(user: User) -> float:
    start = time.perf_counter()
    touch_last_activity(user)
    return time.perf_counter() - start


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["django", "django_redis"])
@pytest.mark.parametrize("fault", ["hang", "slow"])
def test_faulty_redis_costs_at_most_the_timeout_then_nothing(
    fault: str, backend: str, proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "django_redis":
        pytest.importorskip("django_redis")
    monkeypatch.setattr(cooldown_module, "BREAKER_RETRY_AFTER", RETRY_AFTER)
    failures = cooldown_module.BREAKER_FAILURES
    users = [User.objects.create_user(f"u{i}") for i in range(24)]
    UserActivity.objects.all().delete()
    with override_settings(
        CACHES=proxied(proxy, backend),
        STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "gate", "CACHE_TIMEOUT": TIMEOUT},
    ):
        tracking.reset()
        cache = tracking.tracker().cooldown.shared
        assert cache is not None
        cache.clear()
        assert touch_timed(users[0]) < 1  # healthy: the gate works
        gate = Cooldown.shared_key((users[0].pk, "default", timezone.localdate()))
        assert caches["gate"].get(gate) is not None

        proxy.set_mode(fault, delay=2.0)
        during = users[1:13]
        costs = [touch_timed(user) for user in during]
        # The first cold users pay about the timeout (one call each), no more ...
        assert all(TIMEOUT * 0.75 <= c < TIMEOUT + 0.5 for c in costs[:failures]), costs
        # ... then the breaker is open and the others pay nothing for the gate.
        assert tracking.tracker().cooldown.breaker == "open"
        assert all(c < TIMEOUT / 2 for c in costs[failures:]), costs  # a write: ms
        # The database guard recorded every one of them.
        assert UserActivity.objects.filter(user__in=during).count() == len(during)

        proxy.set_mode("pass")  # the fault ends
        time.sleep(RETRY_AFTER + 0.1)
        after = users[13:]
        costs = [touch_timed(user) for user in after]
        assert all(c < 1 for c in costs), costs
        assert tracking.tracker().cooldown.breaker == "closed"
        # Everybody is recorded, and the gate holds the new users' windows again.
        assert UserActivity.objects.count() == len(users)
        for user in after:
            gate = Cooldown.shared_key((user.pk, "default", timezone.localdate()))
            assert caches["gate"].get(gate) is not None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_hung_redis_with_the_default_timeout(proxy: Any) -> None:
    """No CACHE_TIMEOUT, no OPTIONS: 30 cold users through a hung Redis take a few
    database writes' time in all (the default 0.05 s, at most BREAKER_FAILURES times),
    not redis-py's 5 s (or forever) each."""
    users = [User.objects.create_user(f"u{i}") for i in range(30)]
    UserActivity.objects.all().delete()
    proxy.set_mode("hang")
    with override_settings(
        CACHES=proxied(proxy, "django"), STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "gate"}
    ):
        tracking.reset()
        total = sum(touch_timed(user) for user in users)
        assert total < 3.0, total
        assert tracking.tracker().cooldown.breaker == "open"
    assert UserActivity.objects.count() == len(users)


@pytest.mark.redis
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_hung_redis_async_path(proxy: Any) -> None:
    from asgiref.sync import sync_to_async

    from strawberry_activity import atouch_last_activity

    users = [await sync_to_async(User.objects.create_user)(f"u{i}") for i in range(10)]
    await UserActivity.objects.all().adelete()
    proxy.set_mode("hang")
    with override_settings(
        CACHES=proxied(proxy, "django"), STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "gate"}
    ):
        tracking.reset()
        start = time.perf_counter()
        for user in users:
            await atouch_last_activity(user)
        assert time.perf_counter() - start < 3.0
    assert await UserActivity.objects.acount() == len(users)
    from django.db import connections

    await sync_to_async(connections.close_all)()
