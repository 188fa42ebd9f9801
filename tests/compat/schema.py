"""The test app's schema, with gqlauth's ``tokenAuth`` mutation, three ways.

- ``schema``: a plain ``strawberry.Schema`` (sessions; JWT through ``django_jwt_middleware``,
  which leaves the user in ``request.UserOrError``; Channels' ``scope["user"]``).
- ``jwt_schema``: gqlauth's ``JwtSchema``, which copies the token's user to ``request.user``
  before execution.
"""

from __future__ import annotations

import strawberry
import strawberry_django
from gqlauth.core.middlewares import JwtSchema
from gqlauth.user import arg_mutations
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from strawberry_activity import ActivityTrackingExtension
from tests.testapp import schema as base
from tests.testapp.models import User


@strawberry_django.type(User, name="Member")  # gqlauth names its own type UserType
class Member:
    id: strawberry.auto
    username: strawberry.auto


@strawberry.type
class Mutation:
    login: Member = strawberry_django.auth.login()
    logout = strawberry_django.auth.logout()
    token_auth = arg_mutations.ObtainJSONWebToken.field

    @strawberry.mutation
    def send_money(self, info: Info, amount: int = 1) -> int:
        return amount


EXTENSIONS = [ActivityTrackingExtension, ParserCache, ValidationCache]

schema = strawberry.Schema(
    query=base.Query,
    mutation=Mutation,
    subscription=base.Subscription,
    extensions=EXTENSIONS,
)
jwt_schema = JwtSchema(
    query=base.Query,
    mutation=Mutation,
    subscription=base.Subscription,
    extensions=EXTENSIONS,
)
