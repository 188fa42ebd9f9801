"""Django REST framework tokens through ``GET_USER``, the recipe of docs/auth.md: a plain
function that queries the ORM, and an ``async def``, under sync and async views (§3.7)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client, override_settings

from tests.compat.conftest import activity_warnings, recorded
from tests.testapp.models import User

pytestmark = [pytest.mark.compat, pytest.mark.django_db(transaction=True)]

HOOKS = {
    "plain function": "tests.compat.hooks.user_from_drf_token",
    "async def": "tests.compat.hooks.auser_from_drf_token",
}
SEND_MONEY = json.dumps({"query": "mutation { sendMoney }"})


def drf_token(user: User) -> str:
    from rest_framework.authtoken.models import Token

    key: str = Token.objects.create(user=user).key
    return key


@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
def test_drf_token_user_is_recorded(
    member: User, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(headers={"Authorization": f"Token {drf_token(member)}"})
    with override_settings(STRAWBERRY_ACTIVITY={"GET_USER": hook}):
        response = client.post("/graphql/", SEND_MONEY, content_type="application/json")
    assert response.json() == {"data": {"sendMoney": 1}}
    assert recorded(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
async def test_drf_token_user_is_recorded_async(
    member: User, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = await sync_to_async(drf_token)(member)
    # Headers per request: AsyncClient(headers=...) sends them under wrong names (Django 5.2.19).
    with override_settings(STRAWBERRY_ACTIVITY={"GET_USER": hook}):
        response = await AsyncClient().post(
            "/graphql-async/",
            SEND_MONEY,
            content_type="application/json",
            headers={"Authorization": f"Token {key}"},
        )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert await sync_to_async(recorded)(member), activity_warnings(caplog)
    assert activity_warnings(caplog) == []
