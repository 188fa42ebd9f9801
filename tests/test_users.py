"""Finding the user where the stacks put it, and what the look-up costs (SPEC §3.7-3.9).

- ``GET_USER`` as a plain function that queries the ORM, or as an ``async def``, under sync
  and async views;
- gqlauth's ``request.UserOrError`` (a plain schema behind ``django_jwt_middleware``);
- logins that only save ``last_login`` (``update_last_login``, token logins);
- a request without credentials costs no look-up; a session user in cooldown costs no user
  query; the response is the one the view gives without the extension.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, update_last_login
from django.db import connection, connections
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext

from strawberry_activity.models import UserActivity
from tests.conftest import activity_writes, forget_activity, logged_in, recorded
from tests.testapp.models import User
from tests.testapp.schema import schema

pytestmark = pytest.mark.django_db(transaction=True)

MUTATION = {"query": "mutation { sendMoney }"}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "strawberry_activity"]


# -- GET_USER, sync or async, under sync or async views -----------------------------------


@pytest.mark.parametrize("hook", ["user_from_header", "auser_from_header"])
def test_get_user_under_the_sync_view(
    hook: str, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        override_settings(STRAWBERRY_ACTIVITY={"GET_USER": f"tests.hooks.{hook}"}),
        caplog.at_level(logging.WARNING, logger="strawberry_activity"),
    ):
        response = Client().post(
            "/graphql/", MUTATION, content_type="application/json", headers={"x-user": str(user.pk)}
        )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert recorded(user)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("hook", ["user_from_header", "auser_from_header"])
@pytest.mark.asyncio
async def test_get_user_under_the_async_view(hook: str, caplog: pytest.LogCaptureFixture) -> None:
    """The plain hook queries the ORM: under an async view that raises
    ``SynchronousOnlyOperation`` unless it runs in a worker thread."""
    user = await User.objects.acreate(username=f"jwt-{hook}")
    with (
        override_settings(STRAWBERRY_ACTIVITY={"GET_USER": f"tests.hooks.{hook}"}),
        caplog.at_level(logging.WARNING, logger="strawberry_activity"),
    ):
        response = await AsyncClient().post(
            "/graphql-async/",
            MUTATION,
            content_type="application/json",
            headers={"x-user": str(user.pk)},
        )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert await UserActivity.objects.filter(user=user).aexists()
    assert _warnings(caplog) == []


def test_async_get_user_under_execute_sync(user: User) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"GET_USER": "tests.hooks.auser_from_header"}):
        result = schema.execute_sync(
            "mutation { sendMoney }",
            context_value={"request": SimpleNamespace(headers={"x-user": str(user.pk)})},
        )
    assert result.errors is None
    assert recorded(user)


# -- gqlauth's UserOrError ------------------------------------------------------------------


def test_user_or_error_is_found_without_get_user(user: User) -> None:
    """gqlauth's ``django_jwt_middleware`` leaves ``request.user`` to the session (anonymous
    here) and puts the token's user in ``request.UserOrError.user``."""
    request = SimpleNamespace(
        user=AnonymousUser(), UserOrError=SimpleNamespace(user=user, error=None)
    )
    result = schema.execute_sync("mutation { sendMoney }", context_value={"request": request})
    assert result.errors is None
    assert recorded(user)


def test_user_or_error_with_an_error_is_anonymous(user: User) -> None:
    request = SimpleNamespace(
        user=AnonymousUser(),
        UserOrError=SimpleNamespace(user=AnonymousUser(), error="Signature has expired"),
    )
    schema.execute_sync("mutation { sendMoney }", context_value={"request": request})
    assert not UserActivity.objects.exists()


# -- logins that only save last_login -------------------------------------------------------


def test_update_last_login_counts(user: User) -> None:
    """Token logins (gqlauth's tokenAuth, simplejwt's UPDATE_LAST_LOGIN) call Django's
    ``update_last_login`` and send no ``user_logged_in``."""
    update_last_login(None, user)
    assert recorded(user)


def test_a_last_login_save_counts_but_other_saves_do_not(user: User, other: User) -> None:
    other.first_name = "Bob"
    other.save()
    other.save(update_fields=["first_name"])
    user.save(update_fields=["last_login"])
    assert recorded(user)
    assert not recorded(other)


def test_a_session_login_writes_once(user: User) -> None:
    """``login()`` sends ``user_logged_in``, whose receivers include Django's
    ``update_last_login``: one login, one write."""
    with CaptureQueriesContext(connection) as ctx:
        assert Client().login(username="alice", password="pw")
    assert len(activity_writes(ctx)) == 1
    assert recorded(user)


def test_a_login_mutation_writes_once(user: User) -> None:
    with CaptureQueriesContext(connection) as ctx:
        response = Client().post(
            "/graphql/",
            {"query": 'mutation { login(username: "alice", password: "pw") { username } }'},
            content_type="application/json",
        )
    assert response.json() == {"data": {"login": {"username": "alice"}}}
    assert len(activity_writes(ctx)) == 1


# -- what the look-up costs -----------------------------------------------------------------


def _post(client: Client, path: str) -> tuple[Any, list[dict[str, str]]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(path, MUTATION, content_type="application/json")
    assert response.json() == {"data": {"sendMoney": 1}}
    return response, ctx.captured_queries


def test_a_mutation_without_credentials_looks_up_nothing() -> None:
    tracked, tracked_queries = _post(Client(), "/graphql/")
    plain, _ = _post(Client(), "/graphql-plain/")
    assert tracked_queries == []
    assert tracked.headers.get("Vary") == plain.headers.get("Vary")
    assert "Cookie" not in (tracked.headers.get("Vary") or "")


def test_a_stale_session_cookie_leaves_the_response_unchanged() -> None:
    client = Client()
    client.cookies["sessionid"] = "no-such-session"
    tracked, tracked_queries = _post(client, "/graphql/")
    plain, _ = _post(client, "/graphql-plain/")
    assert tracked.headers.get("Vary") == plain.headers.get("Vary")
    assert len(tracked_queries) <= 1  # the session row, which does not exist
    assert not UserActivity.objects.exists()


def test_a_session_user_in_cooldown_costs_no_user_query(user: User) -> None:
    client = logged_in(user)
    _post(client, "/graphql/")  # the write
    assert recorded(user)
    tracked, queries = _post(client, "/graphql/")
    plain, _ = _post(client, "/graphql-plain/")
    user_table = User._meta.db_table
    assert [q for q in queries if user_table in q["sql"]] == []
    assert len(queries) <= 1  # the session, with the database session engine
    assert tracked.headers.get("Vary") == plain.headers.get("Vary")


def test_a_session_user_is_verified_before_the_write(user: User) -> None:
    """The session's user id alone is not trusted for a write: a session whose password
    hash no longer matches (the password changed elsewhere) is anonymous."""
    client = logged_in(user)
    user.set_password("changed")
    user.save()
    _post(client, "/graphql/")
    assert not recorded(user)


@pytest.mark.asyncio
async def test_async_view_session_user_in_cooldown_costs_no_user_query() -> None:
    user = await User.objects.acreate(username="ivy")
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    await sync_to_async(forget_activity)()
    await client.post("/graphql-async/", MUTATION, content_type="application/json")
    assert await UserActivity.objects.filter(user=user).aexists()

    # The async view's ORM work runs in asgiref's sync thread: capture its connection.
    captured = CaptureQueriesContext(await sync_to_async(lambda: connections["default"])())
    await sync_to_async(captured.__enter__)()
    response = await client.post("/graphql-async/", MUTATION, content_type="application/json")
    await sync_to_async(captured.__exit__)(None, None, None)
    assert response.json() == {"data": {"sendMoney": 1}}
    user_table = User._meta.db_table
    assert captured.captured_queries  # the session was read: the capture works
    assert [q for q in captured.captured_queries if user_table in q["sql"]] == []


# -- MUTATION_KINDS keys --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sendMoney", "send_money"])
def test_mutation_kinds_accepts_the_graphql_and_the_python_name(key: str, user: User) -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"MUTATION_KINDS": {key: "transaction"}}):
        response = logged_in(user).post("/graphql/", MUTATION, content_type="application/json")
    assert response.json() == {"data": {"sendMoney": 1}}
    assert recorded(user, "transaction")
