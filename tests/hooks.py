"""Dotted-path hooks the tests configure (EXCLUDE, GET_USER)."""

from __future__ import annotations

from typing import Any

from tests.testapp.models import User


def is_staff(user: Any) -> bool:
    return bool(user.is_staff)


def user_from_header(execution_context: Any) -> User | None:
    """A stand-in for a JWT set-up: the user id arrives in a header."""
    request = execution_context.context["request"]
    pk = request.headers.get("x-user")
    return User.objects.filter(pk=pk).first() if pk else None


def not_a_user(execution_context: Any) -> object:
    """A broken GET_USER: returns something that is not a user."""
    return 42


async def auser_from_header(execution_context: Any) -> User | None:
    """GET_USER as an ``async def``: the same look-up through the async ORM."""
    request = execution_context.context["request"]
    pk = request.headers.get("x-user")
    return await User.objects.filter(pk=pk).afirst() if pk else None
