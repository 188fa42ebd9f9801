from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
import strawberry_django
from django.db import transaction
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from strawberry_activity import ActivityTrackingExtension
from strawberry_activity.schema import ActivityQuery
from tests.testapp.models import User


@strawberry_django.type(User)
class UserType:
    id: strawberry.auto
    username: strawberry.auto


@strawberry.type
class Query(ActivityQuery):
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Mutation:
    login: UserType = strawberry_django.auth.login()
    logout = strawberry_django.auth.logout()

    @strawberry.mutation
    def send_money(self, info: Info, amount: int = 1) -> int:
        return amount

    @strawberry.mutation
    def send_message(self, info: Info, text: str = "hi") -> str:
        return text

    @strawberry.mutation
    def roll_back(self, info: Info) -> bool:
        """Marks the request's transaction (ATOMIC_REQUESTS) for rollback."""
        transaction.set_rollback(True)
        return True

    @strawberry.mutation
    def fail(self, info: Info) -> int:
        raise ValueError("this mutation fails")


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, count: int = 2) -> AsyncGenerator[int, None]:
        for i in range(count):
            yield i
            await asyncio.sleep(0)


def build(*extensions: object) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*extensions],  # type: ignore[list-item]
    )


schema = build(ActivityTrackingExtension, ParserCache, ValidationCache)
plain_schema = build(ParserCache, ValidationCache)
