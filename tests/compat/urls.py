"""URLs of the compatibility pass.

``graphql/`` is protected by CSRF (a session API) and sets the ``csrftoken`` cookie on a GET,
the recipe of docs/auth.md; ``jwt/`` is gqlauth's ``JwtSchema``, which reads the user from the
``Authorization`` header only, so it may be ``csrf_exempt``.
"""

from __future__ import annotations

from django.urls import path
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from strawberry.django.views import AsyncGraphQLView, GraphQLView

from tests.compat.schema import jwt_schema, schema

urlpatterns = [
    path("graphql/", ensure_csrf_cookie(GraphQLView.as_view(schema=schema))),
    path("graphql-async/", ensure_csrf_cookie(AsyncGraphQLView.as_view(schema=schema))),
    path("bare/", GraphQLView.as_view(schema=schema)),
    path("jwt/", csrf_exempt(GraphQLView.as_view(schema=jwt_schema))),
    path("jwt-async/", csrf_exempt(AsyncGraphQLView.as_view(schema=jwt_schema))),
]
