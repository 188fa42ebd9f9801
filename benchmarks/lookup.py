"""What finding the user costs a mutation whose resolver never reads ``request.user``.

Each sample builds a fresh request through Django's real ``SessionMiddleware`` and
``AuthenticationMiddleware`` (database sessions on PostgreSQL), so ``request.user`` is the
lazy object a view sees, then runs ``sendMoney`` on the schema without the extension and
with it, side by side. Three requests: no cookie at all (anonymous), a session user in
cooldown, and a stale session cookie. Reported per mutation: the queries the extension
adds (counted) and the wall-clock time it adds (median of paired samples: the queries
are I/O, which CPU time would not see).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from strawberry.django.context import StrawberryDjangoContext
from strawberry.extensions import ParserCache, ValidationCache

from benchmarks.harness import Result, us
from strawberry_activity import ActivityTrackingExtension, tracking
from tests.testapp.models import User
from tests.testapp.schema import build

MUTATION = "mutation { sendMoney(amount: 1) }"


def _request(cookie: str | None) -> Any:
    request = RequestFactory().post("/graphql/")
    if cookie is not None:
        request.COOKIES[settings.SESSION_COOKIE_NAME] = cookie
    middleware = SessionMiddleware(lambda r: HttpResponse())
    middleware.process_request(request)
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    return request


def _session_for(user: User) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key


def lookup(repeats: int) -> list[Result]:
    user, _ = User.objects.get_or_create(username="bench-lookup")
    schemas = {
        "none": build(ParserCache, ValidationCache),
        "ours": build(ActivityTrackingExtension, ParserCache, ValidationCache),
    }
    cookies = {
        "no cookie": None,
        "session user in cooldown": _session_for(user),
        "stale session cookie": "no-such-session-key",
    }
    # At most: nothing for no credential, the session alone for a user in cooldown.
    targets = {"no cookie": 0.0, "session user in cooldown": 1.0, "stale session cookie": None}
    # The first mutation writes and opens the user's window; later ones are in cooldown.
    schemas["ours"].execute_sync(
        MUTATION,
        context_value=StrawberryDjangoContext(
            request=_request(cookies["session user in cooldown"]), response=None
        ),  # type: ignore[arg-type]
    )
    assert tracking.tracker().pending(user.pk, ["default"]) == []

    results = []
    for label, cookie in cookies.items():
        queries: dict[str, int] = {}
        times: dict[str, list[float]] = {name: [] for name in schemas}
        for name, schema in schemas.items():
            with CaptureQueriesContext(connection) as ctx:
                context = StrawberryDjangoContext(request=_request(cookie), response=None)  # type: ignore[arg-type]
                assert schema.execute_sync(MUTATION, context_value=context).errors is None
            queries[name] = len(ctx.captured_queries)
        for r in range(repeats):
            order = list(schemas) if r % 2 else list(reversed(schemas))
            for name in order:
                context = StrawberryDjangoContext(request=_request(cookie), response=None)  # type: ignore[arg-type]
                started = time.perf_counter()
                schemas[name].execute_sync(MUTATION, context_value=context)
                times[name].append(time.perf_counter() - started)
        added = statistics.median(o - n for o, n in zip(times["ours"], times["none"], strict=True))
        results.append(
            Result(
                f"lookup: {label}",
                queries["ours"] - queries["none"],
                targets[label],
                "queries the extension adds per mutation",
                [f"time added per mutation (median of {repeats} pairs): {us(added)}"],
            )
        )
    return results
