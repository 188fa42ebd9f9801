"""Sessions in a stock ``startproject`` (CSRF on), with gqlauth's middleware installed too.

What docs/auth.md shows, proven: a POST without a CSRF token is refused before GraphQL runs;
the ``csrftoken`` cookie (set by a GET on a view wrapped in ``ensure_csrf_cookie``) sent back
as ``X-CSRFToken`` works, and must be read again after the login, which rotates it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext

from tests.compat.conftest import (
    activity_warnings,
    all_threads_queries,
    recorded,
    session_cookie,
)
from tests.conftest import activity_writes, gql
from tests.testapp.models import User

pytestmark = [pytest.mark.compat, pytest.mark.django_db(transaction=True)]

LOGIN = 'mutation { login(username: "alice", password: "pw") { username } }'
SEND_MONEY = "mutation { sendMoney }"


def post(client: Client, path: str, query: str, **extra: Any) -> Any:
    return client.post(path, json.dumps({"query": query}), content_type="application/json", **extra)


# -- CSRF in a stock project ----------------------------------------------------------------


@override_settings(MIDDLEWARE=settings.STOCK_MIDDLEWARE)
def test_stock_project_refuses_a_post_without_csrf_token(member: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = session_cookie(member)
    response = post(client, "/bare/", SEND_MONEY)
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not recorded(member)


@override_settings(MIDDLEWARE=settings.STOCK_MIDDLEWARE)
def test_csrf_cookie_sent_back_as_header_logs_in_and_records(
    member: User, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(enforce_csrf_checks=True)
    # GraphiQL's page, through ensure_csrf_cookie: the response sets the csrftoken cookie.
    assert client.get("/graphql/", headers={"Accept": "text/html"}).status_code == 200
    before_login = client.cookies["csrftoken"].value

    response = post(client, "/graphql/", LOGIN, headers={"X-CSRFToken": before_login})
    assert response.json() == {"data": {"login": {"username": "alice"}}}
    assert recorded(member)  # the login itself is activity

    # django.contrib.auth.login rotated the token: the old one is refused now.
    after_login = client.cookies["csrftoken"].value
    assert after_login != before_login
    stale = post(client, "/graphql/", SEND_MONEY, headers={"X-CSRFToken": before_login})
    assert stale.status_code == 403
    fresh = post(client, "/graphql/", SEND_MONEY, headers={"X-CSRFToken": after_login})
    assert fresh.json() == {"data": {"sendMoney": 1}}
    assert activity_warnings(caplog) == []


def test_csrf_exempt_token_view_needs_no_csrf_token(member: User) -> None:
    from gqlauth.jwt.types_ import TokenType

    token = TokenType.from_user(member).token
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"JWT {token}"})
    response = post(client, "/jwt/", SEND_MONEY)
    assert response.json() == {"data": {"sendMoney": 1}}
    assert recorded(member)


# -- a session login counts once, however many paths see it (§3.5, §3.8) --------------------


def test_login_mutation_writes_once(member: User, caplog: pytest.LogCaptureFixture) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = gql(Client(), LOGIN)
    assert result == {"data": {"login": {"username": "alice"}}}
    assert len(activity_writes(ctx)) == 1, [q["sql"] for q in ctx.captured_queries]
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
async def test_login_mutation_writes_once_async(
    member: User, caplog: pytest.LogCaptureFixture
) -> None:
    with all_threads_queries() as ctx:
        response = await AsyncClient().post(
            "/graphql-async/", json.dumps({"query": LOGIN}), content_type="application/json"
        )
    assert response.json() == {"data": {"login": {"username": "alice"}}}
    assert len(activity_writes(ctx)) == 1, ctx.statements
    assert activity_warnings(caplog) == []


# -- a session user next to gqlauth's anonymous request.UserOrError -------------------------


def test_session_user_is_recorded_beside_gqlauth_middleware(
    member: User, caplog: pytest.LogCaptureFixture
) -> None:
    """``django_jwt_middleware`` sets ``request.UserOrError`` to AnonymousUser (no token) on
    every request: a session user must still count."""
    client = Client()
    client.cookies["sessionid"] = session_cookie(member)
    assert gql(client, SEND_MONEY) == {"data": {"sendMoney": 1}}
    assert recorded(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
async def test_session_user_is_recorded_beside_gqlauth_middleware_async(
    member: User, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncClient()
    client.cookies["sessionid"] = await sync_to_async(session_cookie)(member)
    response = await client.post(
        "/graphql-async/", json.dumps({"query": SEND_MONEY}), content_type="application/json"
    )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


# -- no credential, no user lookup (§3.9) ---------------------------------------------------


@pytest.fixture
def user_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of Django's ``get_user`` / ``aget_user``: what ``request.user`` and
    ``request.auser()`` (AuthenticationMiddleware) run when they are first read."""
    from django.contrib import auth

    calls: list[str] = []
    get_user, aget_user = auth.get_user, auth.aget_user

    def counted_get_user(request: Any) -> Any:
        calls.append("get_user")
        return get_user(request)

    async def counted_aget_user(request: Any) -> Any:
        calls.append("aget_user")
        return await aget_user(request)

    monkeypatch.setattr(auth, "get_user", counted_get_user)
    monkeypatch.setattr(auth, "aget_user", counted_aget_user)
    return calls


def test_anonymous_mutation_looks_up_no_user(
    user_lookups: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with CaptureQueriesContext(connection) as ctx:
        assert gql(Client(), SEND_MONEY) == {"data": {"sendMoney": 1}}
    assert ctx.captured_queries == []
    assert user_lookups == []
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
async def test_anonymous_mutation_looks_up_no_user_async(
    user_lookups: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with all_threads_queries() as ctx:
        response = await AsyncClient().post(
            "/graphql-async/", json.dumps({"query": SEND_MONEY}), content_type="application/json"
        )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert ctx.statements == []
    assert user_lookups == []
    assert activity_warnings(caplog) == []
