"""Where the common Django stacks put the user of an operation, found without configuration.

- ``request.user``: session auth (Django's ``AuthenticationMiddleware``), gqlauth's
  ``JwtSchema`` and the JWT extensions that set it during execution;
- ``request.UserOrError.user``: gqlauth's ``django_jwt_middleware`` in front of a plain
  ``strawberry.Schema`` (``request.user`` is then the session's, often anonymous);
- ``scope["user"]``: Django Channels (``AuthMiddlewareStack``), HTTP and WebSocket, and
  ``scope["UserOrError"].user`` behind gqlauth's ``channels_jwt_middleware``.

Finding costs nothing for a request without a credential: Django's user is a lazy object
that only loads (session, then user row) when read, and a request with no session cookie
and no ``Authorization`` header is answered "nobody" without reading it. For a request
with a session cookie, ``session_user_pk`` reads the user's id from the session alone, so
a user still in cooldown costs no user query; the user is loaded (and the session verified)
only when there is something to write. Reads made here leave ``session.accessed`` as it
was: the response (its ``Vary: Cookie``) is the one the view gives without tracking.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.utils.functional import LazyObject, empty

__all__ = [
    "asession_user_pk",
    "find",
    "loaded",
    "request_of",
    "session_of",
    "session_user_pk",
    "unloaded",
]


def request_of(context: Any) -> Any:
    """The request in a Strawberry context: ``context.request`` or ``context["request"]``."""
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    return request


def find(context: Any) -> Any:
    """The operation's user as far as it is known without I/O: a user object, a lazy one
    not loaded yet (see ``unloaded``), or None when the request carries no credential."""
    request = getattr(context, "request", None)  # ``request_of``, inlined
    if request is None:
        request = context.get("request") if isinstance(context, dict) else None
        if request is None:
            return None
    token_user = _token_user(getattr(request, "UserOrError", None))
    if token_user is not None:
        return token_user
    user = getattr(request, "user", None)
    if user is None:
        # Channels: the consumer's scope (strawberry's ChannelsRequest, or the scope itself).
        scope = getattr(request, "scope", None)
        if scope is None:
            scope = getattr(getattr(request, "consumer", None), "scope", None)
        return _scope_user(scope) if isinstance(scope, dict) else None
    if isinstance(user, LazyObject):  # ``loaded``, inlined: this runs for every mutation
        wrapped = user._wrapped
        if wrapped is not empty:
            return wrapped
        if not _has_credential(request):
            return None
    return user


def _token_user(user_or_error: Any) -> Any:
    """The authenticated user of gqlauth's ``UserOrError`` (``.user``, ``.error``), or None."""
    if user_or_error is None:
        return None
    user = loaded(getattr(user_or_error, "user", None))
    return user if user is not None and user.is_authenticated else None


def _scope_user(scope: dict[str, Any]) -> Any:
    """Channels: gqlauth's ``channels_jwt_middleware`` user, else ``AuthMiddleware``'s."""
    return _token_user(scope.get("UserOrError")) or loaded(scope.get("user"))


def loaded(user: Any) -> Any:
    """The object behind a lazy user that has been loaded (reading through the proxy costs
    ~1 us an attribute); anything else as it is."""
    if isinstance(user, LazyObject):
        wrapped = user._wrapped
        if wrapped is not empty:
            return wrapped
    return user


def unloaded(user: Any) -> bool:
    """True for a lazy user (Django's, Channels') that has not been loaded yet."""
    return isinstance(user, LazyObject) and user._wrapped is empty


def _has_credential(request: Any) -> bool:
    cookies = getattr(request, "COOKIES", None)
    if cookies and settings.SESSION_COOKIE_NAME in cookies:
        return True
    headers = getattr(request, "headers", None)
    return headers is not None and "Authorization" in headers


def session_of(request: Any) -> Any:
    """The session that says who Django's lazy ``request.user`` is, or None when the lazy
    user may come from elsewhere (an ``Authorization`` header: a JWT middleware)."""
    headers = getattr(request, "headers", None)
    if headers is not None and "Authorization" in headers:
        return None
    return getattr(request, "session", None)


def session_user_pk(session: Any) -> Any:
    """The user id stored in ``session`` (None: anonymous). Reads the session only."""
    accessed = session.accessed
    try:
        value = session.get(SESSION_KEY)
    finally:
        session.accessed = accessed
    return _pk(value)


async def asession_user_pk(session: Any) -> Any:
    """``session_user_pk`` for async views (the session loads through the async API)."""
    accessed = session.accessed
    try:
        value = await session.aget(SESSION_KEY)
    finally:
        session.accessed = accessed
    return _pk(value)


def _pk(value: Any) -> Any:
    if value is None:
        return None
    pk = get_user_model()._meta.pk
    assert pk is not None
    return pk.to_python(value)
