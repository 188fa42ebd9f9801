"""Django Channels: Strawberry's HTTP and WebSocket consumers behind ``AuthMiddlewareStack``,
driven by Channels' own communicators. No ``GET_USER``: the user is ``scope["user"]`` (§3.7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from tests.compat.conftest import (
    activity_warnings,
    all_threads_queries,
    recorded,
    session_cookie,
)
from tests.conftest import activity_writes
from tests.testapp.models import User

pytestmark = [pytest.mark.compat, pytest.mark.django_db(transaction=True)]

PATH = "/channels/graphql/"
SEND_MONEY = "mutation { sendMoney(amount: 2) }"


def cookie_header(sessionid: str | None) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"sessionid={sessionid}".encode())] if sessionid else []


async def http(
    query: str,
    sessionid: str | None = None,
    *,
    path: str = PATH,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    from channels.testing import HttpCommunicator

    from tests.compat.asgi import application

    communicator = HttpCommunicator(
        application,
        "POST",
        path,
        body=json.dumps({"query": query}).encode(),
        headers=[
            (b"content-type", b"application/json"),
            *cookie_header(sessionid),
            *(headers or []),
        ],
    )
    response = await communicator.get_response()
    assert response["status"] == 200, response
    data: dict[str, Any] = json.loads(response["body"])
    return data


async def websocket(query: str, sessionid: str | None = None) -> dict[str, Any]:
    """One operation over graphql-transport-ws: connection_init, subscribe, next, complete."""
    from channels.testing import WebsocketCommunicator

    from tests.compat.asgi import application

    communicator = WebsocketCommunicator(
        application, PATH, headers=cookie_header(sessionid), subprotocols=["graphql-transport-ws"]
    )
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == "graphql-transport-ws"
    try:
        await communicator.send_json_to({"type": "connection_init"})
        assert (await communicator.receive_json_from())["type"] == "connection_ack"
        await communicator.send_json_to(
            {"id": "1", "type": "subscribe", "payload": {"query": query}}
        )
        message = await communicator.receive_json_from(timeout=5)
        assert message["type"] == "next", message
        assert (await communicator.receive_json_from(timeout=5))["type"] == "complete"
    finally:
        await communicator.disconnect()
    payload: dict[str, Any] = message["payload"]
    return payload


TRANSPORTS = {"HTTP consumer": http, "WebSocket consumer": websocket}


@pytest.mark.asyncio
@pytest.mark.parametrize("send", TRANSPORTS.values(), ids=TRANSPORTS.keys())
async def test_session_mutation_is_recorded_once(
    member: User, send: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sessionid = await sync_to_async(session_cookie)(member)
    with all_threads_queries() as ctx:
        assert await send(SEND_MONEY, sessionid) == {"data": {"sendMoney": 2}}
        assert await send(SEND_MONEY, sessionid) == {"data": {"sendMoney": 2}}
    assert len(activity_writes(ctx)) == 1, ctx.statements
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("send", TRANSPORTS.values(), ids=TRANSPORTS.keys())
async def test_session_query_is_not_recorded(
    member: User, send: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sessionid = await sync_to_async(session_cookie)(member)
    assert await send("{ hello }", sessionid) == {"data": {"hello": "world"}}
    assert not await sync_to_async(recorded)(member)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("send", TRANSPORTS.values(), ids=TRANSPORTS.keys())
async def test_anonymous_mutation_runs_no_query(
    send: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with all_threads_queries() as ctx:
        assert await send(SEND_MONEY) == {"data": {"sendMoney": 2}}
    assert ctx.statements == []
    assert activity_warnings(caplog) == []


# -- gqlauth's channels_jwt_middleware: the token's user in scope["UserOrError"] ---------------

JWT_PATHS = {
    "JwtSchema": "/channels/jwt/",
    "plain schema + channels_jwt_middleware": "/channels/jwt-plain/",
}


def jwt_header(user: User) -> list[tuple[bytes, bytes]]:
    from gqlauth.jwt.types_ import TokenType

    return [(b"authorization", f"JWT {TokenType.from_user(user).token}".encode())]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path",
    ["/channels/jwt/", "/channels/jwt-plain/"],
    ids=JWT_PATHS.keys(),
)
async def test_gqlauth_jwt_mutation_is_recorded(
    member: User, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = await http(SEND_MONEY, path=path, headers=jwt_header(member))
    assert result == {"data": {"sendMoney": 2}}
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
async def test_gqlauth_scope_through_get_user(
    member: User, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/auth.md's recipe for a plain schema behind ``channels_jwt_middleware``."""
    hook = "tests.compat.hooks.user_from_gqlauth_scope"
    with override_settings(STRAWBERRY_ACTIVITY={"GET_USER": hook}):
        result = await http(SEND_MONEY, path="/channels/jwt-plain/", headers=jwt_header(member))
    assert result == {"data": {"sendMoney": 2}}
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []
