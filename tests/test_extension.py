"""ActivityTrackingExtension: what counts (SPEC §3) through real Django views."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace

import pytest
import strawberry
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils.functional import SimpleLazyObject

from strawberry_activity import ActivityTrackingExtension
from strawberry_activity.backends import get_backend
from strawberry_activity.models import UserActivity
from strawberry_activity.testing import memory_activity
from tests.conftest import activity_writes, forget_activity, gql, logged_in, recorded
from tests.testapp.models import User
from tests.testapp.schema import build, schema

pytestmark = pytest.mark.django_db


def test_mutation_by_authenticated_user_is_recorded(user: User) -> None:
    result = gql(logged_in(user), "mutation { sendMoney(amount: 3) }")
    assert result == {"data": {"sendMoney": 3}}
    assert recorded(user)


def test_query_is_not_recorded_and_looks_up_no_user(user: User) -> None:
    client = logged_in(user)
    with CaptureQueriesContext(connection) as ctx:
        result = gql(client, "{ hello }")
    assert result == {"data": {"hello": "world"}}
    assert not recorded(user)
    # No session or user row was read: the extension left before touching request.user.
    assert ctx.captured_queries == []


def test_query_never_evaluates_the_lazy_user(user: User) -> None:
    evaluated = []
    lazy = SimpleLazyObject(lambda: evaluated.append(1) or user)
    result = schema.execute_sync("{ hello }", context_value={"request": SimpleNamespace(user=lazy)})
    assert result.errors is None
    assert evaluated == []


def test_anonymous_mutation_is_not_recorded(user: User) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = gql(Client(), "mutation { sendMoney }")
    assert result == {"data": {"sendMoney": 1}}
    assert UserActivity.objects.count() == 0
    assert activity_writes(ctx) == []


def test_login_mutation_is_recorded(user: User) -> None:
    client = Client()
    result = gql(client, 'mutation { login(username: "alice", password: "pw") { username } }')
    assert result == {"data": {"login": {"username": "alice"}}}
    assert recorded(user)


def test_login_counts_through_the_extension_alone(user: User) -> None:
    """The user is read after execution: even without the login signal, login counts."""
    from django.contrib.auth.signals import user_logged_in

    from strawberry_activity.signals import record_login

    user_logged_in.disconnect(dispatch_uid="strawberry_activity_login")
    try:
        gql(Client(), 'mutation { login(username: "alice", password: "pw") { username } }')
    finally:
        user_logged_in.connect(record_login, dispatch_uid="strawberry_activity_login")
    assert recorded(user)


def test_logout_mutation_is_recorded(user: User) -> None:
    client = logged_in(user)
    assert gql(client, "mutation { logout }") == {"data": {"logout": True}}
    assert recorded(user)


def test_admin_login_counts_through_the_signal(staff: User) -> None:
    response = Client().post("/admin/login/?next=/admin/", {"username": "admin", "password": "pw"})
    assert response.status_code == 302
    assert recorded(staff)


DOCUMENT = "query A { hello } mutation B { sendMoney }"


def test_multi_operation_document_follows_operation_name(user: User, other: User) -> None:
    assert gql(logged_in(user), DOCUMENT, operation_name="B") == {"data": {"sendMoney": 1}}
    assert recorded(user)
    assert gql(logged_in(other), DOCUMENT, operation_name="A") == {"data": {"hello": "world"}}
    assert not recorded(other)


def test_mutation_word_in_a_query_does_not_count(user: User) -> None:
    # Text that starts with "mutation" but is a query by its parsed type.
    gql(logged_in(user), "# mutation\n{ hello }")
    assert not recorded(user)


def test_failing_mutation_is_recorded(user: User) -> None:
    result = gql(logged_in(user), "mutation { fail }")
    assert result["errors"][0]["message"] == "this mutation fails"
    assert recorded(user)


@override_settings(STRAWBERRY_ACTIVITY={"TRACK_FAILED": False})
def test_failing_mutation_is_not_recorded_when_disabled(user: User) -> None:
    gql(logged_in(user), "mutation { fail }")
    assert not recorded(user)
    gql(logged_in(user), "mutation { sendMoney }")
    assert recorded(user)


def test_invalid_mutation_is_not_recorded(user: User) -> None:
    result = gql(logged_in(user), "mutation { noSuchField }")
    assert "errors" in result
    assert not recorded(user)


@override_settings(STRAWBERRY_ACTIVITY={"TRACK_OPERATIONS": ["query", "mutation"]})
def test_track_operations_setting(user: User) -> None:
    gql(logged_in(user), "{ hello }")
    assert recorded(user)


def test_factory_option_overrides_setting(user: User) -> None:
    from strawberry_activity import ActivityTrackingExtension
    from tests.testapp.schema import build

    queries_too = build(lambda: ActivityTrackingExtension(operations=("query",)))
    request = SimpleNamespace(user=user)
    queries_too.execute_sync("mutation { sendMoney }", context_value={"request": request})
    assert not recorded(user)
    queries_too.execute_sync("{ hello }", context_value={"request": request})
    assert recorded(user)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_subscription_is_not_recorded(user: User) -> None:
    request = SimpleNamespace(user=user)
    stream = await schema.subscribe("subscription { ticks }", context_value={"request": request})
    values = [item.data async for item in stream]  # type: ignore[union-attr]
    assert values == [{"ticks": 0}, {"ticks": 1}]
    assert not await UserActivity.objects.filter(user=user).aexists()


def test_get_user_setting_supplies_the_user(user: User) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"GET_USER": "tests.hooks.user_from_header"}):
        result = schema.execute_sync(
            "mutation { sendMoney }",
            context_value={"request": SimpleNamespace(headers={"x-user": str(user.pk)})},
        )
    assert result.errors is None
    assert recorded(user)


def test_excluded_users_never_count(user: User, staff: User) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"EXCLUDE": "tests.hooks.is_staff"}):
        gql(logged_in(staff), "mutation { sendMoney }")
        gql(logged_in(user), "mutation { sendMoney }")
    assert not recorded(staff)
    assert recorded(user)


@override_settings(STRAWBERRY_ACTIVITY={"MUTATION_KINDS": {"sendMoney": "transaction"}})
def test_mutation_kinds(user: User, other: User) -> None:
    alice, bob = logged_in(user), logged_in(other)
    gql(alice, "mutation { sendMoney }")
    gql(bob, "mutation { sendMessage }")
    assert recorded(user, "transaction")
    assert recorded(user)
    assert recorded(other)
    assert not recorded(other, "transaction")


# -- the cooldown through the extension ----------------------------------------------------
# Run like production (autocommit): the cooldown remembers a write once it commits, and a
# test transaction never commits.


@pytest.mark.django_db(transaction=True)
def test_hundred_mutations_write_once(user: User) -> None:
    client = logged_in(user)
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(100):
            gql(client, "mutation { sendMoney }")
    assert len(activity_writes(ctx)) == 1


@pytest.mark.django_db(transaction=True)
def test_hot_path_issues_no_query(user: User) -> None:
    request = SimpleNamespace(user=user)
    schema.execute_sync("mutation { sendMoney }", context_value={"request": request})
    assert recorded(user)
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(20):
            result = schema.execute_sync(
                "mutation { sendMoney }", context_value={"request": request}
            )
            assert result.errors is None
    assert ctx.captured_queries == []


# -- async views ---------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_view_with_session_records(caplog: pytest.LogCaptureFixture) -> None:
    user = await User.objects.acreate(username="carol")
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    await sync_to_async(forget_activity)()
    with caplog.at_level(logging.WARNING, logger="strawberry_activity"):
        response = await client.post(
            "/graphql-async/",
            {"query": "mutation { sendMoney(amount: 2) }"},
            content_type="application/json",
        )
    assert response.json() == {"data": {"sendMoney": 2}}
    assert await UserActivity.objects.filter(user=user).aexists()
    assert caplog.records == []  # no SynchronousOnlyOperation swallowed on the way


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_view_login_mutation_records() -> None:
    user = await User.objects.acreate(username="dave")
    user.set_password("pw")
    await user.asave()
    response = await AsyncClient().post(
        "/graphql-async/",
        {"query": 'mutation { login(username: "dave", password: "pw") { username } }'},
        content_type="application/json",
    )
    assert response.json() == {"data": {"login": {"username": "dave"}}}
    assert await UserActivity.objects.filter(user=user).aexists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_view_query_and_anonymous_do_not_record() -> None:
    user = await User.objects.acreate(username="erin")
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    await sync_to_async(forget_activity)()
    await client.post("/graphql-async/", {"query": "{ hello }"}, content_type="application/json")
    await AsyncClient().post(
        "/graphql-async/", {"query": "mutation { sendMoney }"}, content_type="application/json"
    )
    assert not await UserActivity.objects.aexists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_execute_with_loaded_user() -> None:
    user = await User.objects.acreate(username="frank")
    result = await schema.execute(
        "mutation { sendMoney }", context_value={"request": SimpleNamespace(user=user)}
    )
    assert result.errors is None
    assert await UserActivity.objects.filter(user=user).aexists()


# -- transactions -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rolled_back_request_does_not_poison_the_cooldown(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    client = logged_in(user)
    assert gql(client, "mutation { rollBack }") == {"data": {"rollBack": True}}
    assert not recorded(user)  # the write rolled back with the request
    assert gql(client, "mutation { sendMoney }") == {"data": {"sendMoney": 1}}
    assert recorded(user)


@pytest.mark.django_db(transaction=True)
def test_tracking_failure_inside_a_transaction_keeps_it_usable(user: User) -> None:
    """On PostgreSQL a failed statement would abort the caller's transaction; the write
    runs in a savepoint so the caller's work still commits."""
    with transaction.atomic():
        User.objects.create_user("inside")
        UserActivity._meta.db_table = "strawberry_activity_missing"
        try:
            result = schema.execute_sync(
                "mutation { sendMoney }", context_value={"request": SimpleNamespace(user=user)}
            )
        finally:
            UserActivity._meta.db_table = "strawberry_activity_useractivity"
        assert result.errors is None
        User.objects.create_user("after")
    assert User.objects.filter(username__in=["inside", "after"]).count() == 2


def test_backend_is_the_configured_one() -> None:
    from strawberry_activity.backends.db import DatabaseBackend

    assert isinstance(get_backend(), DatabaseBackend)


def test_a_broken_get_user_is_logged_not_raised(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    request = SimpleNamespace(user=user)
    plain = schema.execute_sync("mutation { sendMoney }", context_value={"request": request})
    with (
        override_settings(STRAWBERRY_ACTIVITY={"GET_USER": "tests.hooks.not_a_user"}),
        caplog.at_level(logging.WARNING, logger="strawberry_activity"),
    ):
        result = schema.execute_sync("mutation { sendMoney }", context_value={"request": request})
    assert (result.data, result.errors) == (plain.data, plain.errors)
    assert [r.name for r in caplog.records] == ["strawberry_activity"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_view_invalid_mutation_is_not_recorded() -> None:
    user = await User.objects.acreate(username="gina")
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    await sync_to_async(forget_activity)()
    response = await client.post(
        "/graphql-async/", {"query": "mutation { noSuchField }"}, content_type="application/json"
    )
    assert "errors" in response.json()
    assert not await UserActivity.objects.aexists()
    # The control: a valid mutation through the same client counts.
    await client.post(
        "/graphql-async/", {"query": "mutation { sendMoney }"}, content_type="application/json"
    )
    assert await UserActivity.objects.filter(user=user).aexists()


# -- one schema, many operations at once (SPEC §4.8) ---------------------------------------


class _Person:
    """A user object as the extension sees one: authenticated, with a primary key."""

    is_authenticated = True

    def __init__(self, pk: int) -> None:
        self.pk = pk


@strawberry.type
class _AsyncMutation:
    @strawberry.mutation
    async def pause(self) -> bool:
        await asyncio.sleep(0)  # lets the other operations' tasks run in between
        return True


@strawberry.type
class _AsyncQuery:
    @strawberry.field
    async def hello(self) -> str:
        await asyncio.sleep(0)
        return "world"


SHARED_INSTANCE = ActivityTrackingExtension()  # deprecated by Strawberry, still seen in the wild


@pytest.mark.parametrize(
    "extension",
    [ActivityTrackingExtension, SHARED_INSTANCE],
    ids=["class", "shared-instance"],
)
def test_threads_mixing_mutations_and_queries_record_every_mutation(extension: object) -> None:
    """300 mutations by 300 users in 12 threads, each between queries by other users, on
    one schema: every mutation's user is recorded, no query's user is."""
    shared = build(extension)
    mutators = [_Person(pk) for pk in range(1, 301)]
    readers = [_Person(pk) for pk in range(1001, 1301)]
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def run(offset: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(offset, 300, 12):
                for person, document in ((readers[i], "{ hello }"), (mutators[i], MUTATION)):
                    result = shared.execute_sync(
                        document, context_value={"request": SimpleNamespace(user=person)}
                    )
                    assert result.errors is None, result.errors
        except BaseException as exc:
            errors.append(exc)

    with memory_activity() as backend:
        threads = [threading.Thread(target=run, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        recorded_pks = {pk for pk, _kind in backend.last}
    assert errors == []
    assert recorded_pks == {person.pk for person in mutators}


MUTATION = "mutation { sendMoney }"


@pytest.mark.parametrize(
    "extension",
    [ActivityTrackingExtension, SHARED_INSTANCE],
    ids=["class", "shared-instance"],
)
@pytest.mark.asyncio
async def test_asyncio_tasks_mixing_mutations_and_queries_record_every_mutation(
    extension: object,
) -> None:
    shared = strawberry.Schema(
        query=_AsyncQuery,
        mutation=_AsyncMutation,
        extensions=[extension],  # type: ignore[list-item]
    )
    mutators = [_Person(pk) for pk in range(1, 301)]
    readers = [_Person(pk) for pk in range(1001, 1301)]

    async def run(person: _Person, document: str) -> None:
        result = await shared.execute(
            document, context_value={"request": SimpleNamespace(user=person)}
        )
        assert result.errors is None, result.errors

    with memory_activity() as backend:
        await asyncio.gather(
            *(run(r, "{ hello }") for r in readers),
            *(run(m, "mutation { pause }") for m in mutators),
        )
        recorded_pks = {pk for pk, _kind in backend.last}
    assert recorded_pks == {person.pk for person in mutators}


# -- the factory form and execute_sync in a running loop ----------------------------------


def test_factory_with_no_operations_tracks_nothing(user: User) -> None:
    nothing = build(lambda: ActivityTrackingExtension(operations=()))
    result = nothing.execute_sync(MUTATION, context_value={"request": SimpleNamespace(user=user)})
    assert result.errors is None
    assert not recorded(user)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_execute_sync_inside_a_running_event_loop_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An async test, a notebook or an async task calling a sync schema: the write cannot
    run on the event loop's thread, and must not be dropped either."""
    user = await User.objects.acreate(username="hal")
    with caplog.at_level(logging.WARNING, logger="strawberry_activity"):
        result = schema.execute_sync(
            MUTATION, context_value={"request": SimpleNamespace(user=user)}
        )
        assert result.errors is None
        assert result.data == {"sendMoney": 1}
        for _ in range(200):  # the write finishes on the loop's next turns
            if await UserActivity.objects.filter(user=user).aexists():
                break
            await asyncio.sleep(0.01)
    assert await UserActivity.objects.filter(user=user).aexists()
    assert caplog.records == []
