"""``/graphql/`` with the extension, ``/graphql-plain/`` without; the async views under
ASGI (uvicorn), the sync ones under WSGI (gunicorn)."""

from __future__ import annotations

import os

from django.urls import path
from strawberry.django.views import AsyncGraphQLView, GraphQLView

from loadtest.schema import plain_schema, schema

View = AsyncGraphQLView if os.environ.get("LOADTEST_VIEWS") == "async" else GraphQLView

urlpatterns = [
    path("graphql/", View.as_view(schema=schema)),
    path("graphql-plain/", View.as_view(schema=plain_schema)),
]
