"""The per-operation cost of the extension: hot_path, query_path, per_field_vs_per_operation.

Three schemas alike but for their extensions, all with ParserCache + ValidationCache (so
Strawberry's own cost is small and ours shows): none, a no-op ``on_execute`` (the floor:
the price of any extension at all) and ``ActivityTrackingExtension``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from typing import Any

import strawberry
from django.test import RequestFactory
from graphql import OperationType
from strawberry.django.context import StrawberryDjangoContext
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.types import Info

from benchmarks.harness import Result, overheads, samples, us
from strawberry_activity import ActivityTrackingExtension, tracking
from tests.testapp.models import User
from tests.testapp.schema import build

MUTATION = "mutation { sendMoney(amount: 1) }"
QUERY = "{ hello }"


class NoOpExtension(SchemaExtension):
    """The floor: an extension that wraps execution and does nothing."""

    def on_execute(self) -> Iterator[None]:
        yield


def _context(user: User) -> StrawberryDjangoContext:
    request = RequestFactory().post("/graphql/")
    request.user = user
    return StrawberryDjangoContext(request=request, response=None)  # type: ignore[arg-type]


def _schemas(*extra: Any) -> dict[str, strawberry.Schema]:
    return {
        "none": build(ParserCache, ValidationCache, *extra),
        "noop": build(NoOpExtension, ParserCache, ValidationCache, *extra),
        "ours": build(ActivityTrackingExtension, ParserCache, ValidationCache, *extra),
    }


def _user_in_cooldown() -> User:
    user, _ = User.objects.get_or_create(username="bench-hot-path")
    tracking.reset()
    schemas = _schemas()
    # The first mutation writes and opens the user's cooldown window; every later one is
    # the hot path (COOLDOWN is a day in benchmarks/settings.py).
    result = schemas["ours"].execute_sync(MUTATION, context_value=_context(user))
    assert result.errors is None, result.errors
    assert tracking.tracker().pending(user.pk, ["default"]) == []
    return user


def _result(name: str, target: float | None, sizes: str, times: dict[str, list[float]]) -> Result:
    """Ratio = our overhead over no extension / the no-op extension's overhead."""
    extra = overheads(times, "none")
    medians = {variant: statistics.median(values) for variant, values in times.items()}
    return Result(
        name,
        extra["ours"] / extra["noop"],
        target,
        sizes,
        [
            f"per operation (median of {len(times['none'])}): none {us(medians['none'])}, "
            f"no-op {us(medians['noop'])}, ours {us(medians['ours'])}",
            f"overhead over none (paired): no-op {us(extra['noop'])}, ours {us(extra['ours'])}",
        ],
    )


def _sync_times(document: str, user: User, repeats: int) -> dict[str, list[float]]:
    context = _context(user)
    schemas = _schemas()
    for schema in schemas.values():  # warm the parser and validation caches
        assert schema.execute_sync(document, context_value=context).errors is None
    return samples(
        {
            name: (lambda s=schema: s.execute_sync(document, context_value=context))
            for name, schema in schemas.items()
        },
        repeats=repeats,
        number=50,
        clock=time.process_time,
    )


def _async_times(document: str, user: User, repeats: int) -> dict[str, list[float]]:
    context = _context(user)
    schemas = _schemas()
    number = 50

    async def measure() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {name: [] for name in schemas}
        names = list(schemas)
        for schema in schemas.values():
            assert (await schema.execute(document, context_value=context)).errors is None
        for r in range(repeats):
            for name in names[r % 3 :] + names[: r % 3]:
                schema = schemas[name]
                started = time.process_time()
                for _ in range(number):
                    await schema.execute(document, context_value=context)
                found[name].append((time.process_time() - started) / number)
        return found

    return asyncio.run(measure())


def hot_path(repeats: int) -> list[Result]:
    user = _user_in_cooldown()
    return [
        _result(
            "hot_path", 1.3, "execute_sync, user in cooldown", _sync_times(MUTATION, user, repeats)
        ),
        _result(
            "hot_path_async", None, "await schema.execute", _async_times(MUTATION, user, repeats)
        ),
    ]


def query_path(repeats: int) -> list[Result]:
    user = _user_in_cooldown()
    times = _sync_times(QUERY, user, repeats)
    return [_result("query_path", 1.1, "execute_sync, authenticated user", times)]


# -- per field vs per operation -----------------------------------------------------------


@strawberry.type
class Item:
    id: int
    name: str
    price: float


ITEMS = [Item(id=i, name=f"item {i}", price=i / 10) for i in range(1000)]


@strawberry.type
class ListQuery:
    @strawberry.field
    def items(self, n: int) -> list[Item]:
        return ITEMS[:n]


class PerFieldTracking(SchemaExtension):
    """What a graphene-style middleware does: the same "is this a tracked mutation?"
    check, made in a ``resolve`` hook, so on every field of the result."""

    def resolve(self, _next: Any, root: Any, info: Info, *args: Any, **kwargs: Any) -> Any:
        result = _next(root, info, *args, **kwargs)
        if root is None and info.operation.operation is OperationType.MUTATION:
            user = info.context.request.user
            if user.is_authenticated:
                tracking.track_quietly(user)
        return result


def per_field_vs_per_operation(repeats: int) -> list[Result]:
    user = _user_in_cooldown()
    context = _context(user)
    schemas = {
        name: strawberry.Schema(
            query=ListQuery, extensions=[*extensions, ParserCache, ValidationCache]
        )
        for name, extensions in {
            "none": [],
            "ours": [ActivityTrackingExtension],
            "per_field": [PerFieldTracking],
        }.items()
    }
    document = "query Items($n: Int!) { items(n: $n) { id name price } }"
    details, found = [], {}
    for n in (10, 100, 1000):
        variables = {"n": n}
        for schema in schemas.values():
            assert schema.execute_sync(document, variables, context_value=context).errors is None
        times = samples(
            {
                name: (
                    lambda s=schema, v=variables: s.execute_sync(document, v, context_value=context)
                )
                for name, schema in schemas.items()
            },
            repeats=repeats,
            number=max(2, 2000 // n),
            clock=time.process_time,
        )
        extra = overheads(times, "none")
        ours, per_field = extra["ours"], extra["per_field"]
        found[n] = (ours, per_field)
        details.append(
            f"{n} items x 3 fields: none {us(statistics.median(times['none']))}, "
            f"overhead ours {us(ours)}, "
            f"per-field {us(per_field)} ({per_field / max(ours, 1e-9):.0f}x ours)"
        )
    ours_1000, per_field_1000 = found[1000]
    # Ours does nothing per field, so its overhead is the same few microseconds at any size
    # and at 1000 items lost in the noise of a 3000-field execution; the per-field one
    # grows with the fields.
    return [
        Result(
            "per_field_vs_per_operation",
            ours_1000 / per_field_1000,
            None,
            "10 / 100 / 1000 items x 3 fields; ratio = ours / per-field at 1000 items",
            details,
        )
    ]
