"""A real server and a real client: uvicorn serving ``tests.compat.asgi`` on a loopback port,
driven by gql (HTTP through httpx, WebSocket through websockets), with a session made by the
real ``login`` mutation, CSRF on as in a stock project."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.compat.conftest import activity_warnings, forget_activity, recorded
from tests.testapp.models import User

pytestmark = [pytest.mark.compat, pytest.mark.django_db(transaction=True)]

LOGIN = 'mutation { login(username: "alice", password: "pw") { username } }'


def csrf(transport: Any) -> dict[str, Any]:
    """The header Django's CSRF check wants: the current ``csrftoken`` cookie, read afresh
    (a login rotates it)."""
    return {"headers": {"X-CSRFToken": transport.client.cookies["csrftoken"]}}


def test_async_view_over_uvicorn(
    member: User, live_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from gql import Client, gql
    from gql.transport.httpx import HTTPXTransport

    transport = HTTPXTransport(url=f"{live_server_url}/graphql-async/", timeout=10)
    with Client(transport=transport) as session:
        # GraphiQL's page sets the csrftoken cookie (the view is wrapped in ensure_csrf_cookie).
        page = transport.client.get(transport.url, headers={"Accept": "text/html"})
        assert page.status_code == 200
        logged_in = session.execute(gql(LOGIN), extra_args=csrf(transport))
        assert logged_in == {"login": {"username": "alice"}}
        assert "sessionid" in transport.client.cookies
        assert recorded(member)  # the login is activity
        forget_activity()

        assert session.execute(gql("{ hello }"), extra_args=csrf(transport)) == {"hello": "world"}
        assert not recorded(member)
        sent = session.execute(gql("mutation { sendMoney(amount: 4) }"), extra_args=csrf(transport))
        assert sent == {"sendMoney": 4}
        assert recorded(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


def test_channels_websocket_over_uvicorn(
    member: User, live_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The session cookie from a real login, then a mutation over graphql-transport-ws."""
    import httpx
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    with httpx.Client(base_url=live_server_url, timeout=10) as browser:
        browser.get("/graphql/", headers={"Accept": "text/html"})
        response = browser.post(
            "/graphql/",
            json={"query": LOGIN},
            headers={"X-CSRFToken": browser.cookies["csrftoken"]},
        )
        assert response.json() == {"data": {"login": {"username": "alice"}}}
        sessionid = browser.cookies["sessionid"]
    forget_activity()

    transport = WebsocketsTransport(
        url=f"{live_server_url.replace('http', 'ws')}/channels/graphql/",
        headers={"Cookie": f"sessionid={sessionid}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )

    async def over_one_connection() -> list[dict[str, Any]]:
        async with Client(transport=transport) as session:
            hello = await session.execute(gql("{ hello }"))
            before = await sync_to_async(recorded)(member)
            sent = await session.execute(gql("mutation { sendMoney(amount: 5) }"))
            return [hello, {"recorded": before}, sent]

    assert asyncio.run(over_one_connection()) == [
        {"hello": "world"},
        {"recorded": False},  # the query was not activity
        {"sendMoney": 5},
    ]
    assert recorded(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []
