"""The app under load: a mutation that needs the logged-in user, and a query.

``schema`` has the extension, ``plain_schema`` is the same schema without it: the load
generator sends every request to one or the other at random, so both see the same load.
"""

from __future__ import annotations

import strawberry
from django.contrib.auth import authenticate, login
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info
from strawberry_django.resolvers import django_resolver

from strawberry_activity import ActivityTrackingExtension


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Mutation:
    @strawberry.mutation
    def login(self, info: Info, username: str, password: str) -> bool:
        request = info.context.request
        user = authenticate(request, username=username, password=password)
        if user is None:
            return False
        login(request, user)
        return True

    @strawberry.mutation
    @django_resolver
    def send_money(self, info: Info, amount: int) -> int:
        # Like any real mutation, it needs the user (one query on the app's database).
        if not info.context.request.user.is_authenticated:
            raise PermissionError("log in first")
        return amount


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[ActivityTrackingExtension, ParserCache, ValidationCache],
)
plain_schema = strawberry.Schema(
    query=Query, mutation=Mutation, extensions=[ParserCache, ValidationCache]
)
