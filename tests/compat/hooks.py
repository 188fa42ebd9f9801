"""``GET_USER`` hooks for Django REST framework tokens, as docs/auth.md shows them."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token


def _token_key(execution_context: Any) -> str | None:
    request = execution_context.context.request
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key if scheme == "Token" and key else None


def user_from_drf_token(execution_context: Any) -> Any:
    """A plain function that queries the database."""
    key = _token_key(execution_context)
    if key is None:
        return None
    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None else None


async def auser_from_drf_token(execution_context: Any) -> Any:
    """The same, as an ``async def`` through the async ORM."""
    key = _token_key(execution_context)
    if key is None:
        return None
    token = await Token.objects.select_related("user").filter(key=key).afirst()
    return token.user if token is not None else None


def user_from_gqlauth_scope(execution_context: Any) -> Any:
    """gqlauth's ``channels_jwt_middleware`` before a plain schema: ``scope["UserOrError"]``."""
    request = execution_context.context["request"]
    scope = getattr(getattr(request, "consumer", None), "scope", None) or request.scope
    user_or_error = scope.get("UserOrError")
    return user_or_error.user if user_or_error is not None else None
