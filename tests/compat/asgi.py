"""The ASGI application of the compatibility pass: Django Channels in front of Django.

``/channels/graphql/`` is Strawberry's Channels consumers (HTTP and WebSocket) behind
``AuthMiddlewareStack``, the set-up of Strawberry's Channels guide; ``/channels/jwt/`` and
``/channels/jwt-plain/`` add gqlauth's ``channels_jwt_middleware`` (which leaves the token's
user in ``scope["UserOrError"]``) before gqlauth's ``JwtSchema`` and a plain schema; every
other HTTP path is Django itself (``AsyncGraphQLView`` at ``/graphql-async/``).
"""

from __future__ import annotations

from django.core.asgi import get_asgi_application

django_application = get_asgi_application()  # sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from gqlauth.core.middlewares import channels_jwt_middleware  # noqa: E402
from strawberry.channels import GraphQLHTTPConsumer, GraphQLWSConsumer  # noqa: E402

from tests.compat.schema import jwt_schema, schema  # noqa: E402

jwt_consumer = channels_jwt_middleware(GraphQLHTTPConsumer.as_asgi(schema=jwt_schema))
plain_jwt_consumer = channels_jwt_middleware(GraphQLHTTPConsumer.as_asgi(schema=schema))

application = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(
            URLRouter(
                [
                    path("channels/graphql/", GraphQLHTTPConsumer.as_asgi(schema=schema)),
                    path("channels/jwt/", jwt_consumer),
                    path("channels/jwt-plain/", plain_jwt_consumer),
                    re_path(r"", django_application),
                ]
            )
        ),
        "websocket": AuthMiddlewareStack(
            URLRouter([path("channels/graphql/", GraphQLWSConsumer.as_asgi(schema=schema))])
        ),
    }
)
