"""``ActivityTrackingExtension``: records a user's activity once per operation.

Usage::

    import strawberry
    from strawberry_activity import ActivityTrackingExtension

    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[ActivityTrackingExtension],
    )

    # Per-schema options go through a factory (Strawberry makes one instance per operation):
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[lambda: ActivityTrackingExtension(operations=("mutation",))],
    )

The work happens once per operation, never per field, in ``get_results``: Strawberry
calls it once for every operation, after execution and before the response is sent, on
the sync and the async path alike. It is the one hook that costs no context manager per
operation (a no-op ``on_execute`` alone costs more than all of tracking's hot path), and
``ctx.result`` tells whether the operation ran: parse and validation failures have none.

The operation type comes from the parsed document and the selected ``operationName``; the
user is read after execution, so a ``login`` mutation counts for the user who just logged
in. Under an async view the write is awaited (``get_results`` may return an awaitable
there) through the async path, so nothing raises ``SynchronousOnlyOperation``. Any failure
is logged and swallowed: the response is exactly the one without the extension.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.utils import timezone
from django.utils.functional import LazyObject, empty
from graphql import FieldNode, OperationDefinitionNode
from graphql import OperationType as CoreOperationType
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from strawberry_activity import tracking
from strawberry_activity.models import DEFAULT_KIND

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

__all__ = ["ActivityTrackingExtension"]

_running_loop = asyncio._get_running_loop  # C function: None outside an event loop


def _operation_types(names: Iterable[str]) -> tuple[Any, ...]:
    """Both enums' members (graphql-core's and Strawberry's) for each name, whichever the
    document yields. A tuple, not a set: ``in`` then compares identities, where a set
    would hash the member with ``Enum.__hash__``, Python code (~0.2 us per operation)."""
    names = frozenset(names)
    return tuple(
        member
        for enum in (CoreOperationType, OperationType)
        for member in enum
        if member.value in names
    )


_DEFAULT_KINDS = [DEFAULT_KIND]


class ActivityTrackingExtension(SchemaExtension):
    """Records the authenticated user's activity when an operation of a tracked type ran.

    ``operations`` overrides ``TRACK_OPERATIONS`` for one schema, e.g.
    ``lambda: ActivityTrackingExtension(operations=("mutation", "query"))``.
    """

    def __init__(
        self,
        *,
        operations: Iterable[str] | None = None,
        execution_context: ExecutionContext | None = None,
    ) -> None:
        self._operations = None if operations is None else _operation_types(operations)
        if execution_context is not None:
            self.execution_context = execution_context

    def get_results(self) -> dict[str, Any]:
        """Track the operation that just ran; adds nothing to the response."""
        try:
            job = self._record()
        except Exception as exc:
            tracking.report_failure("record activity", exc)
            return {}
        return {} if job is None else _AwaitedResults(job)

    # -- the per-operation path ---------------------------------------------------------

    def _record(self) -> Callable[[], Awaitable[None]] | None:
        """Record now (sync), or return the job an async caller must await. None when
        there is nothing (more) to do."""
        ctx = self.execution_context
        t = tracking.tracker()
        document = ctx.graphql_document
        if document is None:
            return None
        definitions = document.definitions
        if len(definitions) == 1:
            # One operation, the common case: no name lookup needed.
            operation = definitions[0]
        else:
            operation = _selected_operation(definitions, ctx.operation_name)
        if not isinstance(operation, OperationDefinitionNode):
            return None
        tracked = self._operations or _TRACKED_CACHE.get(t.operations) or _tracked(t)
        if operation.operation not in tracked:
            return None
        result = ctx.result
        # getattr: an incremental (@defer / @stream) result carries no ``errors``.
        if result is None or (not t.track_failed and getattr(result, "errors", None)):
            return None
        kinds = _kinds(operation, t.mutation_kinds) if t.mutation_kinds else _DEFAULT_KINDS

        user = t.get_user(ctx) if t.get_user is not None else _request_user(ctx.context)
        if user is None:
            return None
        if isinstance(user, LazyObject):
            wrapped = user._wrapped
            if wrapped is empty:
                if _running_loop() is not None:
                    # Not loaded yet, in an async view: load it the async way.
                    return _deferred(user, ctx.context, kinds, t)
                user._setup()
                wrapped = user._wrapped
            user = wrapped

        if not user.is_authenticated:
            return None
        pk = user.pk
        if pk is None:
            return None
        if len(kinds) == 1:
            # One kind, the common case: check its window directly rather than build the
            # list ``t.pending`` would (half the cost of this method, ~0.7 us).
            if t.cooldown.active((pk, kinds[0])):
                return None  # the hot path ends here: in cooldown, no I/O
            pending = kinds
        else:
            pending = t.pending(pk, kinds)
            if not pending:
                return None
        if _running_loop() is not None:
            return _deferred_write(user, pk, pending, t)
        t.touch(user, pk, pending, timezone.now(), False)
        return None


_TRACKED_CACHE: dict[frozenset[str], tuple[Any, ...]] = {}


def _tracked(t: tracking.Tracker) -> tuple[Any, ...]:
    operations = t.operations
    found = _TRACKED_CACHE.get(operations)
    if found is None:
        found = _TRACKED_CACHE[operations] = _operation_types(operations)
    return found


def _selected_operation(definitions: Any, name: str | None) -> Any:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    return None


def _kinds(operation: OperationDefinitionNode, mutation_kinds: dict[str, str]) -> list[str]:
    kinds = [DEFAULT_KIND]
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            kind = mutation_kinds.get(selection.name.value)
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    return kinds


def _request_of(context: Any) -> Any:
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    return request


def _request_user(context: Any) -> Any:
    """The user of the request in ``context``: ``request.user`` (Django views), else the
    ASGI scope's user (Channels)."""
    # _request_of, inlined: this runs for every tracked operation.
    request = getattr(context, "request", None)
    if request is None:
        request = context.get("request") if isinstance(context, dict) else None
        if request is None:
            return None
    user = getattr(request, "user", None)
    if user is None:
        scope = getattr(request, "scope", None)
        if scope is None:
            scope = getattr(getattr(request, "consumer", None), "scope", None)
        if isinstance(scope, dict):
            user = scope.get("user")
    return user


def _deferred(
    user: LazyObject[Any], context: Any, kinds: list[str], t: tracking.Tracker
) -> Callable[[], Awaitable[None]]:
    async def load_and_write() -> None:
        request = _request_of(context)
        auser = getattr(request, "auser", None)
        if auser is not None and getattr(request, "user", None) is user:
            loaded = await auser()  # Django >= 5.0
        else:
            await sync_to_async(user._setup)()
            loaded = user._wrapped
        pk = tracking.user_pk(loaded)
        if pk is not None:
            pending = t.pending(pk, kinds)
            if pending:
                await _deferred_write(loaded, pk, pending, t)()

    return load_and_write


def _deferred_write(
    user: Any, pk: Any, kinds: list[str], t: tracking.Tracker
) -> Callable[[], Awaitable[None]]:
    async def write() -> None:
        await sync_to_async(t.touch)(user, pk, kinds, timezone.now(), False)

    return write


class _AwaitedResults(dict[str, Any]):
    """An empty ``get_results`` dict that finishes the write when awaited.

    Strawberry awaits ``get_results()`` on the async path (``await_maybe``) and merges it
    as a dict on the sync path. Being both, it adds nothing to the response either way and
    can never make the sync path fail.
    """

    def __init__(self, job: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self._job = job

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self._run().__await__()

    async def _run(self) -> dict[str, Any]:
        try:
            await self._job()
        except Exception as exc:
            tracking.report_failure("record activity", exc)
        return {}
