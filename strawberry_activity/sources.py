"""Activity as the source tables tell it: the ``ACTIVITY_SOURCES`` of the project.

Before this package, a project knew who was active by looking through the tables where users
act (transfers, messages, trades): the "old method", a union over those tables. This module
asks them the two questions the ``activity_metrics`` command needs, each in one SQL query:

* ``source_counts``: for each window, the distinct users with a source row in it (the old
  method's DAU / WAU / MAU), to compare with the stored metrics;
* ``stale_users``: the users whose newest source row is newer than their stored last activity
  by more than ``COOLDOWN``: activity that tracking missed (or a backfill not yet run).

::

    STRAWBERRY_ACTIVITY = {"ACTIVITY_SOURCES": [
        {"model": "payments.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
    ]}

    >>> from strawberry_activity.sources import source_counts, stale_users
    >>> source_counts({"dau": now - timedelta(days=1)})
    {'dau': 42}
    >>> stale_users(since=now - timedelta(days=30)).count()
    0

Both work for the two storage modes of the ``db`` backend: the package's own table, and a
``USER_FIELD`` on the user model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from strawberry_activity.backends import get_backend
from strawberry_activity.backends.base import SourceSpec
from strawberry_activity.conf import activity_settings
from strawberry_activity.kinds import validate_kind

__all__ = ["configured_sources", "source_counts", "stale_users"]


def configured_sources() -> list[SourceSpec]:
    """``ACTIVITY_SOURCES`` from settings (the system checks have validated its shape)."""
    return list(activity_settings.ACTIVITY_SOURCES or [])


def _rows_since(source: SourceSpec, since: datetime, using: str | None) -> QuerySet[Any]:
    """The source rows of one user (``OuterRef("pk")``) at or after ``since``."""
    model = apps.get_model(source["model"])
    rows: QuerySet[Any] = model._default_manager.filter(
        **{source["user_field"]: OuterRef("pk"), f"{source['timestamp_field']}__gte": since}
    )
    return rows.using(using) if using else rows


def _any_source_since(sources: Sequence[SourceSpec], since: datetime, using: str | None) -> Q:
    """True for a user with a row in any source at or after ``since``: the old union."""
    condition = Q()
    for source in sources:
        condition |= Q(Exists(_rows_since(source, since, using)))
    return condition


def source_counts(
    windows: Mapping[str, datetime],
    *,
    sources: Sequence[SourceSpec] | None = None,
    using: str | None = None,
) -> dict[str, int]:
    """For each ``name -> since``: the users with a row in any source at or after ``since``.

    One aggregate over the users of the default manager (the same population as
    ``total_users``), each window a filtered count of an ``EXISTS`` per source.

    >>> source_counts({"dau": now - timedelta(days=1), "mau": now - timedelta(days=30)})
    {'dau': 12, 'mau': 95}
    """
    sources = configured_sources() if sources is None else sources
    if not sources or not windows:
        return dict.fromkeys(windows, 0)
    users = get_backend().users(using)
    result = users.aggregate(
        **{
            name: Count("pk", filter=_any_source_since(sources, since, using))
            for name, since in windows.items()
        }
    )
    return {name: int(result[name]) for name in windows}


def stale_users(
    *,
    since: datetime,
    kind: str | None = None,
    sources: Sequence[SourceSpec] | None = None,
    using: str | None = None,
) -> QuerySet[Any]:
    """Users with a source row at or after ``since`` that is newer than their stored last
    activity (of ``kind``) by more than ``COOLDOWN``, or who have no stored activity at all.

    The cooldown is the tolerance because tracking itself may skip a write within it. A
    queryset of users (default manager), so one ``.count()`` is one SQL query.

    >>> stale_users(since=timezone.now() - timedelta(days=30)).count()
    3
    """
    kind = validate_kind(kind)
    sources = configured_sources() if sources is None else sources
    backend = get_backend()
    stored = backend.stored_activity(kind)
    if stored is None:
        # The backend keeps the stored side outside the database: no set-based join.
        raise TypeError(f"stale users need the db backend, not {type(backend).__name__}")
    users = backend.users(using)
    if not sources:
        return users.none()
    users = users.annotate(_stored_activity=stored)
    tolerance = timedelta(seconds=float(activity_settings.COOLDOWN))
    newer = Q()
    for source in sources:
        ts = source["timestamp_field"]
        newer_rows = _rows_since(source, since, using).filter(
            **{f"{ts}__gt": OuterRef("_stored_activity") + tolerance}
        )
        newer |= Q(Exists(newer_rows))
    never = Q(_stored_activity__isnull=True) & _any_source_since(sources, since, using)
    stale: QuerySet[Any] = users.filter(never | newer)
    return stale
