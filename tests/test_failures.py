"""Failure isolation (SPEC §4.5): tracking that fails never changes the response.

Every case sends 50 mutations through the tracked view while tracking fails, and the same
request through the same schema without the extension; the HTTP responses must be equal
byte for byte, the mutation's own rows must all be there, and the ``strawberry_activity``
logger must say so once (not 50 times). Then the fault is repaired and the next mutation
is recorded again.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections
from django.http import HttpResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from django.utils import timezone
from strawberry.django.views import AsyncGraphQLView, GraphQLView
from strawberry.extensions import ParserCache
from strawberry.types import Info
from strawberry_django.resolvers import django_resolver

from strawberry_activity import ActivityTrackingExtension, tracking
from strawberry_activity.backends.db import DatabaseBackend
from strawberry_activity.models import UserActivity
from tests.conftest import logged_in, recorded, require
from tests.testapp.models import Transfer, User
from tests.testapp.schema import Query

REQUESTS = 50

# -- a schema whose mutation writes the app's own rows ------------------------------------


@strawberry.type
class Sent:
    amount: int
    sender: str


def _send(info: Info, amount: int) -> Sent:
    user = info.context.request.user
    Transfer.objects.create(sender=user, amount=amount, created_at=timezone.now())
    return Sent(amount=amount, sender=user.username)


def _lose_connection() -> None:
    """Kill this request's PostgreSQL backend from outside, as a failover or a DBA would."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as killer:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))


@strawberry.type
class Mutation:
    @strawberry.mutation
    @django_resolver
    def send(self, info: Info, amount: int) -> Sent:
        return _send(info, amount)

    @strawberry.mutation
    @django_resolver
    def send_then_lose_connection(self, info: Info, amount: int) -> Sent:
        sent = _send(info, amount)
        _lose_connection()
        return sent


tracked = strawberry.Schema(
    query=Query, mutation=Mutation, extensions=[ActivityTrackingExtension, ParserCache]
)
plain = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache])

urlpatterns = [
    path("graphql/", GraphQLView.as_view(schema=tracked)),
    path("graphql-plain/", GraphQLView.as_view(schema=plain)),
    path("graphql-async/", AsyncGraphQLView.as_view(schema=tracked)),
    path("graphql-async-plain/", AsyncGraphQLView.as_view(schema=plain)),
]

pytestmark = pytest.mark.urls(__name__)

SEND = json.dumps({"query": "mutation { send(amount: 5) { amount sender } }"})


def _seen(response: HttpResponse) -> tuple[int, str, bytes]:
    return response.status_code, response.headers["Content-Type"], response.content


class Outage:
    """Counts the tracking failures reported (each request's) and the warnings logged."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
        self.failures: list[BaseException] = []
        self.caplog = caplog
        report = tracking.report_failure

        def spy(where: str, exc: BaseException) -> None:
            self.failures.append(exc)
            report(where, exc)

        monkeypatch.setattr(tracking, "report_failure", spy)
        caplog.set_level(logging.WARNING, logger="strawberry_activity")

    def start(self) -> None:
        """From here on, count: forget the failures of the set-up (a login counts too)."""
        tracking.reset()
        self.failures.clear()
        self.caplog.clear()

    @property
    def warnings(self) -> list[logging.LogRecord]:
        return [
            r
            for r in self.caplog.records
            if r.name == "strawberry_activity" and r.levelno >= logging.WARNING
        ]


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Outage:
    return Outage(monkeypatch, caplog)


def cold_workers() -> None:
    """The next request comes from a worker that never saw this user (empty local tier)
    and never saw the outage (closed breakers)."""
    tracker = tracking.tracker()
    tracker.cooldown.forget()
    tracker.database.reset()


def assert_unchanged_under(
    client: Client,
    outage: Outage,
    user: User,
    *,
    body: str = SEND,
    between: Callable[[], None] = cold_workers,
    causes: int = 1,
) -> None:
    outage.start()
    before = Transfer.objects.count()
    for _ in range(REQUESTS):
        with_extension = client.post("/graphql/", body, content_type="application/json")
        between()
        without = client.post("/graphql-plain/", body, content_type="application/json")
        between()
        assert _seen(with_extension) == _seen(without)
        assert json.loads(with_extension.content)["data"] is not None
    # The mutation's own data: every one of the 2 x 50 transfers committed.
    assert Transfer.objects.count() - before == 2 * REQUESTS
    assert set(Transfer.objects.values_list("sender", flat=True)) == {user.pk}
    assert len(outage.failures) == REQUESTS, outage.failures[:3]
    # One line per cause (rate-limited), not one per request.
    assert len(outage.warnings) == causes, [r.getMessage() for r in outage.warnings]


@pytest.fixture(params=[False, True], ids=["autocommit", "ATOMIC_REQUESTS"])
def atomic_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", request.param)
    return bool(request.param)


# -- the cases -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backend_raising(
    user: User, outage: Outage, monkeypatch: pytest.MonkeyPatch, atomic_requests: bool
) -> None:
    client = logged_in(user)

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseError("the activity backend is down")

    with monkeypatch.context() as patch:
        patch.setattr(DatabaseBackend, "write", broken)
        assert_unchanged_under(client, outage, user)
        assert not recorded(user)
    cold_workers()
    client.post("/graphql/", SEND, content_type="application/json")
    assert recorded(user)


@pytest.mark.django_db(transaction=True)
def test_table_missing(user: User, outage: Outage, atomic_requests: bool) -> None:
    client = logged_in(user)
    table = connection.ops.quote_name(UserActivity._meta.db_table)
    gone = connection.ops.quote_name("strawberry_activity_gone")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {gone}")
    try:
        assert_unchanged_under(client, outage, user)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {gone} RENAME TO {table}")
    assert not recorded(user)
    cold_workers()
    client.post("/graphql/", SEND, content_type="application/json")
    assert recorded(user)


CLOSED_PORT_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "s"},
    # Nothing listens on port 1: every command is refused.
    "down": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}


@pytest.mark.django_db(transaction=True)
def test_cache_unreachable(user: User, outage: Outage, atomic_requests: bool) -> None:
    client = logged_in(user)
    with override_settings(CACHES=CLOSED_PORT_CACHES, STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "down"}):
        assert_unchanged_under(client, outage, user)
        # The database guard stands in for the gate: recorded, and only once.
        assert UserActivity.objects.filter(user=user).count() == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of this test's own, so stopping it bothers nobody else."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            )
            if ping.stdout.strip() == b"PONG":
                return
            if self.process.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    @property
    def caches(self) -> dict[str, Any]:
        return {
            **CLOSED_PORT_CACHES,
            "private": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{self.port}/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            },
        }


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        require("redis", "a redis-server binary", "install redis-server (apt-get install redis)")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_redis_stopped_mid_run(user: User, outage: Outage, private_redis: PrivateRedis) -> None:
    client = logged_in(user)
    with override_settings(
        CACHES=private_redis.caches, STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "private"}
    ):
        from django.core.cache import caches

        # Up: the gate works and holds this user's window.
        client.post("/graphql/", SEND, content_type="application/json")
        gate = f"strawberry_activity:default:{user.pk}:{timezone.localdate()}"
        assert caches["private"].get(gate) is not None
        UserActivity.objects.all().delete()
        private_redis.stop()  # the pooled connections now point at a dead server

        assert_unchanged_under(client, outage, user)
        assert recorded(user)  # the database guard wrote it

        private_redis.start()  # back: a fresh, empty Redis
        cold_workers()
        UserActivity.objects.all().delete()
        client.post("/graphql/", SEND, content_type="application/json")
        assert recorded(user)
        gate = f"strawberry_activity:default:{user.pk}:{timezone.localdate()}"
        assert caches["private"].get(gate) is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_connection_killed(user: User, outage: Outage) -> None:
    client = logged_in(user)
    body = json.dumps({"query": "mutation { sendThenLoseConnection(amount: 5) { amount sender } }"})
    # Each request ends with its connection gone; Django closes such a connection at the
    # next request_started (close_old_connections), which the test client leaves out.
    # The same worker all along: after 3 failures in a row its database breaker skips
    # writes, a second cause with a line of its own.
    assert_unchanged_under(client, outage, user, body=body, between=connection.close, causes=2)
    assert "skipped" in outage.warnings[-1].getMessage()
    assert not recorded(user)
    cold_workers()
    client.post("/graphql/", SEND, content_type="application/json")
    assert recorded(user)


# -- the async view ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", ["backend raising", "cache unreachable"])
async def test_async_view_unchanged(
    failure: str, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await sync_to_async(User.objects.create_user)("alice", password="pw")
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    await UserActivity.objects.all().adelete()  # the login counted

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseError("the activity backend is down")

    if failure == "backend raising":
        monkeypatch.setattr(DatabaseBackend, "write", broken)
        overrides = override_settings()
    else:
        overrides = override_settings(
            CACHES=CLOSED_PORT_CACHES, STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "down"}
        )
    with overrides:
        outage.start()
        for _ in range(REQUESTS):
            with_extension = await client.post(
                "/graphql-async/", SEND, content_type="application/json"
            )
            without = await client.post(
                "/graphql-async-plain/", SEND, content_type="application/json"
            )
            assert _seen(with_extension) == _seen(without)
            cold_workers()
        assert await Transfer.objects.filter(sender=user).acount() == 2 * REQUESTS
        assert len(outage.failures) == REQUESTS
        assert len(outage.warnings) == 1
        recorded_now = await sync_to_async(recorded)(user)
        assert recorded_now is (failure == "cache unreachable")
    # The ORM's thread keeps its own connection: close it, or the test database cannot go.
    await sync_to_async(connections.close_all)()


# -- recovery: Redis came back empty ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_gate_after_redis_came_back_empty_follows_the_stored_time(user: User) -> None:
    """While Redis was down, a worker wrote the user (the database guard held the cooldown);
    Redis came back empty. The next worker claims the gate, and the guard finds that
    earlier write: the gate must then announce *that* write's window, not a new one, or
    every other worker would skip the user for up to a whole cooldown too long (and their
    last mutation would be lost). Found by the load + fault run (docs/reliability.md)."""
    from django.core.cache import caches

    from strawberry_activity import touch_last_activity
    from strawberry_activity.cooldown import Cooldown

    with override_settings(STRAWBERRY_ACTIVITY={"CACHE_ALIAS": "shared", "COOLDOWN": 300}):
        during_outage = timezone.now() - timedelta(seconds=200)
        UserActivity.objects.create(user=user, kind="default", last_activity_at=during_outage)
        stored = UserActivity.objects.get(user=user).last_activity_at

        assert touch_last_activity(user) is False  # the guard: written 200 s ago

        gate = Cooldown.shared_key((user.pk, "default", timezone.localdate()))
        holder = caches["shared"].get(gate)
        assert holder == stored.timestamp()
