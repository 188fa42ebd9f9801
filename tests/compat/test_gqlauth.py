"""gqlauth (strawberry-django-auth): its ``tokenAuth`` login, its ``JwtSchema``, and a plain
``strawberry.Schema`` behind its ``django_jwt_middleware`` (SPEC §3.7, §3.8, §3.9)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from tests.compat.conftest import (
    activity_warnings,
    all_threads_queries,
    forget_activity,
    recorded,
)
from tests.conftest import activity_writes, gql
from tests.testapp.models import User

pytestmark = [pytest.mark.compat, pytest.mark.django_db(transaction=True)]

TOKEN_AUTH = """mutation {
  tokenAuth(username: "alice", password: "pw") { success errors token { token } }
}"""
SEND_MONEY = "mutation { sendMoney }"

# gqlauth's JwtSchema (csrf_exempt: it reads the header only), and the plain schema that
# django_jwt_middleware (in MIDDLEWARE) serves through request.UserOrError.
SYNC = {"JwtSchema": "/jwt/", "plain schema + django_jwt_middleware": "/graphql/"}
ASYNC = {"JwtSchema": "/jwt-async/", "plain schema + django_jwt_middleware": "/graphql-async/"}


def body(query: str) -> str:
    return json.dumps({"query": query})


def obtain_token(path: str = "/jwt/") -> str:
    """A token from gqlauth's own ``tokenAuth`` mutation; the login's activity forgotten."""
    result = gql(Client(), TOKEN_AUTH, path=path)["data"]["tokenAuth"]
    assert result["success"] is True, result
    forget_activity()
    token: str = result["token"]["token"]
    return token


async def apost(path: str, query: str, **headers: Any) -> dict[str, Any]:
    response = await AsyncClient().post(
        path, body(query), content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


# -- tokenAuth: a login that only saves last_login counts, once (§3.8) ------------------------


@pytest.mark.parametrize("path", SYNC.values(), ids=SYNC.keys())
def test_token_auth_counts_once(member: User, path: str, caplog: pytest.LogCaptureFixture) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = gql(Client(), TOKEN_AUTH, path=path)
    assert result["data"]["tokenAuth"]["success"] is True, result
    assert len(activity_writes(ctx)) == 1, [q["sql"] for q in ctx.captured_queries]
    assert recorded(member)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ASYNC.values(), ids=ASYNC.keys())
async def test_token_auth_counts_once_async(
    member: User, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with all_threads_queries() as ctx:
        result = await apost(path, TOKEN_AUTH)
    assert result["data"]["tokenAuth"]["success"] is True, result
    assert len(activity_writes(ctx)) == 1, ctx.statements
    assert await sync_to_async(recorded)(member)
    assert activity_warnings(caplog) == []


# -- a mutation authenticated by the token (§3.7) --------------------------------------------


@pytest.mark.parametrize("path", SYNC.values(), ids=SYNC.keys())
def test_jwt_mutation_is_recorded(
    member: User, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = obtain_token()
    client = Client(headers={"Authorization": f"JWT {token}"})
    with CaptureQueriesContext(connection) as ctx:
        result = gql(client, SEND_MONEY, path=path)
    assert result == {"data": {"sendMoney": 1}}
    assert len(activity_writes(ctx)) == 1, [q["sql"] for q in ctx.captured_queries]
    assert recorded(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ASYNC.values(), ids=ASYNC.keys())
async def test_jwt_mutation_is_recorded_async(
    member: User, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = await sync_to_async(obtain_token)()
    with all_threads_queries() as ctx:
        result = await apost(path, SEND_MONEY, headers={"Authorization": f"JWT {token}"})
    assert result == {"data": {"sendMoney": 1}}
    assert len(activity_writes(ctx)) == 1, ctx.statements
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.parametrize("path", SYNC.values(), ids=SYNC.keys())
def test_jwt_query_is_not_recorded(member: User, path: str) -> None:
    token = obtain_token()
    client = Client(headers={"Authorization": f"JWT {token}"})
    assert gql(client, "{ hello }", path=path) == {"data": {"hello": "world"}}
    assert not recorded(member)


# -- no credential: no tracking query at all (§3.9) ------------------------------------------


@pytest.mark.parametrize("path", SYNC.values(), ids=SYNC.keys())
def test_anonymous_mutation_runs_no_query(path: str, caplog: pytest.LogCaptureFixture) -> None:
    with CaptureQueriesContext(connection) as ctx:
        result = gql(Client(), SEND_MONEY, path=path)
    assert result == {"data": {"sendMoney": 1}}
    assert ctx.captured_queries == []
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ASYNC.values(), ids=ASYNC.keys())
async def test_anonymous_mutation_runs_no_query_async(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with all_threads_queries() as ctx:
        result = await apost(path, SEND_MONEY)
    assert result == {"data": {"sendMoney": 1}}
    assert ctx.statements == []
    assert activity_warnings(caplog) == []
