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
user is read after execution (``strawberry_activity.users``), so a ``login`` mutation
counts for the user who just logged in.

Where there is I/O to do (load a lazy user, call ``GET_USER``, write) while an event loop
runs in this thread, it cannot run here: Django's ORM refuses the loop's thread. It
becomes a task on that loop, and ``get_results`` returns an empty dict that is also
awaitable. Strawberry's async path awaits it (``await_maybe``), so the write is done before
the response, as on the sync path; when the sync path runs inside a loop (``execute_sync``
from async code) nobody awaits it, and the task finishes on the loop's next turns. Any
failure is logged and swallowed: the response is exactly the one without the extension.

Per-operation state is the execution context alone. Strawberry sets it on the instance
before each operation; an instance shared by every operation (passed as
``extensions=[ActivityTrackingExtension()]``, deprecated by Strawberry) keeps it in a
context variable instead, so threads and asyncio tasks never read each other's.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.utils import timezone
from django.utils.functional import LazyObject
from graphql import FieldNode, OperationDefinitionNode
from graphql import OperationType as CoreOperationType
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from strawberry_activity import tracking, users
from strawberry_activity.kinds import DEFAULT_KIND

if TYPE_CHECKING:
    from strawberry.types import ExecutionContext

__all__ = ["ActivityTrackingExtension"]

Job = Callable[[], Awaitable[None]]


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


_DEFAULT_KINDS = (DEFAULT_KIND,)


class ActivityTrackingExtension(SchemaExtension):
    """Records the authenticated user's activity when an operation of a tracked type ran.

    ``operations`` overrides ``TRACK_OPERATIONS`` for one schema, e.g.
    ``lambda: ActivityTrackingExtension(operations=("mutation", "query"))``; an empty
    ``operations=()`` tracks nothing.
    """

    _operations: tuple[Any, ...] | None = None
    # The operation Strawberry set on this instance; once a second one is set (the
    # instance serves every operation), a context variable of the instance's own.
    _operation: ExecutionContext | None = None
    _shared: ContextVar[ExecutionContext] | None = None

    def __init__(
        self,
        *,
        operations: Iterable[str] | None = None,
        execution_context: ExecutionContext | None = None,
    ) -> None:
        if operations is not None:
            self._operations = _operation_types(operations)
        if execution_context is not None:
            self.execution_context = execution_context

    @property  # type: ignore[override]
    def execution_context(self) -> ExecutionContext | None:
        shared = self._shared
        if shared is None:
            return self._operation
        # The first operation ran before the instance knew it was shared: its own.
        return shared.get(self._operation)

    @execution_context.setter
    def execution_context(self, value: ExecutionContext) -> None:
        if self._operation is None:
            self._operation = value
            return
        if self._shared is None:
            self._shared = ContextVar(f"strawberry_activity_operation_{id(self)}")
        self._shared.set(value)

    def get_results(self) -> dict[str, Any]:
        """Track the operation that just ran; adds nothing to the response."""
        try:
            job = self._record()
        except Exception as exc:
            tracking.report_failure("record activity", exc)
            return {}
        return {} if job is None else _Scheduled(job)

    # -- the per-operation path ---------------------------------------------------------

    def _record(self) -> Job | None:
        """Record now, or return the job to run on the event loop. None when there is
        nothing (more) to do."""
        ctx = self._operation if self._shared is None else self.execution_context
        if ctx is None:
            return None
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
        t = tracking.tracker()
        tracked = self._operations
        if tracked is None:
            tracked = _TRACKED_CACHE.get(t.operations) or _tracked(t)
        if operation.operation not in tracked:
            return None
        result = ctx.result
        # getattr: an incremental (@defer / @stream) result carries no ``errors``.
        if result is None or (not t.track_failed and getattr(result, "errors", None)):
            return None
        kinds = _kinds(operation, t.mutation_kinds) if t.mutation_kinds else _DEFAULT_KINDS

        if t.get_user is not None:
            return _custom_user(t, ctx, kinds)
        user = users.find(ctx.context)
        if user is None:
            return None
        if isinstance(user, LazyObject):  # not loaded yet: ``find`` unwraps loaded ones
            return _lazy_user(t, user, users.request_of(ctx.context), kinds)
        return _write(t, user, kinds)


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


def _kinds(operation: OperationDefinitionNode, mutation_kinds: dict[str, str]) -> tuple[str, ...]:
    kinds = [DEFAULT_KIND]
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            kind = mutation_kinds.get(selection.name.value)
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def _in_event_loop() -> bool:
    """Whether this thread runs an event loop, where Django refuses synchronous I/O."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# -- from a loaded user to the write ---------------------------------------------------------


def _pending(t: tracking.Tracker, pk: Any, kinds: tuple[str, ...]) -> list[str] | None:
    """The kinds to write for ``pk``; None when the cooldown covers them all. No I/O."""
    if len(kinds) == 1:
        # One kind, the common case: check its window directly rather than build a list.
        return None if t.cooldown.active((pk, kinds[0])) else list(kinds)
    return t.pending(pk, kinds) or None


def _write(t: tracking.Tracker, user: Any, kinds: tuple[str, ...]) -> Job | None:
    """Write for a loaded user: now, or as a job when an event loop runs here."""
    if not user.is_authenticated:
        return None
    pk = user.pk
    if pk is None:
        return None
    pending = _pending(t, pk, kinds)
    if pending is None:
        return None  # the hot path ends here: in cooldown, no I/O
    now = timezone.now()
    if _in_event_loop():

        async def write() -> None:
            await sync_to_async(t.touch)(user, pk, pending, now, False)

        return write
    t.touch(user, pk, pending, now, False)
    return None


async def _awrite(t: tracking.Tracker, user: Any, kinds: tuple[str, ...]) -> None:
    """``_write`` for a user that may still be an awaitable or a lazy object."""
    if inspect.isawaitable(user):
        user = await user
    if users.unloaded(user):
        await sync_to_async(user._setup)()  # off the loop: loading may query
    user = users.loaded(user)
    if user is not None:
        job = _write(t, user, kinds)
        if job is not None:
            await job()


# -- lazy users: the session tells who, the user row only when there is a write ------------


def _lazy_user(t: tracking.Tracker, user: Any, request: Any, kinds: tuple[str, ...]) -> Job | None:
    session = users.session_of(request)
    if _in_event_loop():

        async def load_and_write() -> None:
            if session is not None:
                pk = await users.asession_user_pk(session)
                if pk is None or _pending(t, pk, kinds) is None:
                    return
            auser = getattr(request, "auser", None)
            if auser is not None and getattr(request, "user", None) is user:
                loaded = await auser()  # verifies the session, as request.user would
            else:
                await sync_to_async(user._setup)()
                loaded = user._wrapped
            await _awrite(t, loaded, kinds)

        return load_and_write
    if session is not None:
        pk = users.session_user_pk(session)
        if pk is None or _pending(t, pk, kinds) is None:
            return None  # anonymous, or in cooldown: the user row is never read
    user._setup()
    return _write(t, user._wrapped, kinds)


# -- GET_USER: a plain function or an ``async def``, under sync and async views -------------


def _custom_user(t: tracking.Tracker, ctx: ExecutionContext, kinds: tuple[str, ...]) -> Job | None:
    get_user = t.get_user
    assert get_user is not None
    if _in_event_loop():
        if t.get_user_is_async:
            return lambda: _awrite(t, get_user(ctx), kinds)
        try:
            user = get_user(ctx)
        except SynchronousOnlyOperation:
            # It queries the ORM: run it again where Django allows that.
            return lambda: _awrite(t, sync_to_async(get_user)(ctx), kinds)
        if users.unloaded(user):
            return lambda: _awrite(t, user, kinds)
    else:
        user = async_to_sync(get_user)(ctx) if t.get_user_is_async else get_user(ctx)
        if users.unloaded(user):
            user._setup()
    user = users.loaded(user)
    return None if user is None else _write(t, user, kinds)


# -- jobs on the event loop ------------------------------------------------------------------

#: Jobs under way: the loop holds tasks weakly, and a job must not vanish half-way.
_running: set[asyncio.Task[None]] = set()


async def _guarded(job: Job) -> None:
    try:
        await job()
    except asyncio.CancelledError as exc:
        # The loop is closing (the end of ``asyncio.run``) before the write was made.
        tracking.report_failure("record activity", exc)
        raise
    except Exception as exc:
        tracking.report_failure("record activity", exc)


class _Scheduled(dict[str, Any]):
    """An empty ``get_results`` dict whose job already runs as a task on the loop.

    Strawberry awaits ``get_results()`` on the async path (``await_maybe``) and merges it
    as a dict on the sync path. Being both, it adds nothing to the response either way and
    can never make the sync path fail.
    """

    def __init__(self, job: Job) -> None:
        super().__init__()
        task = asyncio.get_running_loop().create_task(_guarded(job))
        _running.add(task)
        task.add_done_callback(_running.discard)
        self._task = task

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self._finished().__await__()

    async def _finished(self) -> dict[str, Any]:
        # Shielded: a client that goes away does not cancel a write half-way.
        await asyncio.shield(self._task)
        return {}
