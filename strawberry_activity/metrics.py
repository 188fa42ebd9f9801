"""What "active" means, in one place: the rolling windows, the percentages, the series.

Definitions (SPEC §2, §7):

* ``dau`` / ``wau`` / ``mau``: distinct users whose last activity is ``>= now - 1 / 7 / 30
  days`` (rolling, boundary inclusive), computed with ``total_users`` in one SQL query.
* percentages: ``round(100 * x / total_users, 2)``, 0.0 without users;
  ``stickiness = round(dau / mau, 4)``, 0.0 when ``mau`` is 0.
* series: one point per calendar day (in ``DAY_TIMEZONE``) from the daily ledger, ``dau``
  counting that day, ``wau`` / ``mau`` the 7 / 30 calendar days ending on it.

>>> from strawberry_activity import get_activity_metrics, get_activity_series
>>> get_activity_metrics()["dau"]
1234
>>> get_activity_series("mau", date(2026, 6, 1), date(2026, 6, 30))[0]
(datetime.date(2026, 6, 1), 9876)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.db.models import QuerySet
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.conf import activity_settings
from strawberry_activity.models import validate_kind

__all__ = [
    "METRICS",
    "WINDOWS",
    "aget_activity_metrics",
    "get_active_users",
    "get_activity_metrics",
    "get_activity_series",
    "get_stickiness_series",
    "percentage",
    "stickiness",
    "validate_days",
    "validate_range",
]

#: Window length in days of each metric.
WINDOWS: dict[str, int] = {"dau": 1, "wau": 7, "mau": 30}
METRICS = tuple(WINDOWS)


def validate_days(days: Any) -> int:
    """``days`` as a window length: a whole number from 1 to ``MAX_DAYS``."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days must be an integer, not {type(days).__name__}")
    limit = int(activity_settings.MAX_DAYS)
    if not 1 <= days <= limit:
        raise ValueError(f"days must be between 1 and {limit} (MAX_DAYS), got {days}")
    return days


def validate_range(metric: Any, start: Any, end: Any) -> None:
    """A series request: a known metric and a date range of at most ``MAX_DAYS`` days."""
    if metric not in WINDOWS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    limit = int(activity_settings.MAX_DAYS)
    if (end - start).days + 1 > limit:
        raise ValueError(f"the range spans {(end - start).days + 1} days, more than {limit}")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return timezone.now()
    if not isinstance(now, datetime) or timezone.is_naive(now):
        raise ValueError("now must be a timezone-aware datetime")
    return now


def get_active_users(
    days: int = 1, *, now: datetime | None = None, kind: str | None = None
) -> QuerySet[Any]:
    """Users active in the rolling window ``[now - days * 24h, now]``.

    >>> get_active_users(7).count()
    """
    days = validate_days(days)
    since = _now(now) - timedelta(days=days)
    return get_backend().active_users(
        since, validate_kind(kind), activity_settings.METRICS_DATABASE
    )


def percentage(part: int, whole: int) -> float:
    """``round(100 * part / whole, 2)``, 0.0 when ``whole`` is 0 (SPEC §2)."""
    return round(100 * part / whole, 2) if whole else 0.0


def stickiness(dau: int, mau: int) -> float:
    """``round(dau / mau, 4)``, 0.0 when ``mau`` is 0 (SPEC §2)."""
    return round(dau / mau, 4) if mau else 0.0


def compute_metrics(now: datetime, kind: str) -> dict[str, Any]:
    """The metrics at ``now``, always computed (never cached): one SQL query."""
    windows = {name: now - timedelta(days=days) for name, days in WINDOWS.items()}
    counts = get_backend().counts(windows, kind, activity_settings.METRICS_DATABASE)
    total, dau, wau, mau = (counts[k] for k in ("total_users", "dau", "wau", "mau"))
    return {
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "total_users": total,
        "dau_percentage": percentage(dau, total),
        "wau_percentage": percentage(wau, total),
        "mau_percentage": percentage(mau, total),
        "stickiness": stickiness(dau, mau),
        "as_of": now,
    }


def get_activity_metrics(*, now: datetime | None = None, kind: str | None = None) -> dict[str, Any]:
    """DAU / WAU / MAU, total users, percentages and stickiness, in one SQL query.

    Keys: ``dau``, ``wau``, ``mau``, ``total_users``, ``dau_percentage``,
    ``wau_percentage``, ``mau_percentage``, ``stickiness`` and ``as_of`` (the ``now`` the
    numbers are for). With ``METRICS_CACHE_SECONDS`` the current numbers (``now=None``)
    are cached for that long.

    >>> get_activity_metrics()
    {'dau': 12, 'wau': 40, 'mau': 95, 'total_users': 300, ...}
    """
    kind = validate_kind(kind)
    seconds = int(activity_settings.METRICS_CACHE_SECONDS)
    if now is not None or seconds <= 0:
        return compute_metrics(_now(now), kind)
    cache = caches[activity_settings.CACHE_ALIAS or "default"]
    key = f"strawberry_activity:metrics:{kind}"
    cached: dict[str, Any] | None = cache.get(key)
    if cached is None:
        cached = compute_metrics(_now(None), kind)
        cache.set(key, cached, timeout=seconds)
    return cached


async def aget_activity_metrics(
    *, now: datetime | None = None, kind: str | None = None
) -> dict[str, Any]:
    """``get_activity_metrics`` for async code.

    >>> metrics = await aget_activity_metrics()
    """
    return await sync_to_async(get_activity_metrics)(now=now, kind=kind)


def get_activity_series(
    metric: str, start: date, end: date, *, kind: str | None = None
) -> list[tuple[date, int]]:
    """One ``(day, value)`` per calendar day from ``start`` to ``end`` inclusive, in one
    SQL query over the daily ledger. ``metric`` is ``"dau"``, ``"wau"`` or ``"mau"``.

    >>> get_activity_series("dau", date(2026, 6, 1), date(2026, 6, 3))
    [(datetime.date(2026, 6, 1), 120), (datetime.date(2026, 6, 2), 131), ...]
    """
    validate_range(metric, start, end)
    return get_backend().daily_counts(
        WINDOWS[metric], start, end, validate_kind(kind), activity_settings.METRICS_DATABASE
    )


def get_stickiness_series(
    start: date, end: date, *, kind: str | None = None
) -> list[tuple[date, float]]:
    """Stickiness over time: ``round(dau / mau, 4)`` for each calendar day (0.0 when that
    day's MAU is 0), from the DAU and MAU series (two queries).

    >>> get_stickiness_series(date(2026, 6, 1), date(2026, 6, 30))[0]
    (datetime.date(2026, 6, 1), 0.1834)
    """
    dau = get_activity_series("dau", start, end, kind=kind)
    mau = get_activity_series("mau", start, end, kind=kind)
    return [(day, stickiness(d, m)) for (day, d), (_, m) in zip(dau, mau, strict=True)]
