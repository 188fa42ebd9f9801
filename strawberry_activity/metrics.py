"""What "active" means, in one place: the rolling windows, the percentages, the series,
the growth analytics.

Definitions (docs/metrics.md, docs/analytics.md):

* ``dau`` / ``wau`` / ``mau``: distinct users whose last activity is ``>= now - 1 / 7 / 30
  days`` (rolling, boundary inclusive), computed with ``total_users`` in one SQL query.
* percentages: ``round(100 * x / total_users, 2)``, 0.0 without users;
  ``stickiness = round(dau / mau, 4)``, 0.0 when ``mau`` is 0.
* series: one point per calendar day (in ``DAY_TIMEZONE``) from the daily ledger, ``dau``
  counting that day, ``wau`` / ``mau`` the 7 / 30 calendar days ending on it.
* growth analytics, from the same ledger, per day, week (Monday to Sunday) or month:
  retention cohorts, lifecycle (new / returning / resurrecting / dormant, quick ratio) and
  power users (users by number of active days); a user's first period holds their
  earliest ledger day.

>>> from strawberry_activity import get_activity_metrics, get_activity_series
>>> get_activity_metrics()["dau"]
1234
>>> get_activity_series("mau", date(2026, 6, 1), date(2026, 6, 30))[0]
(datetime.date(2026, 6, 1), 9876)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.db.models import QuerySet
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.conf import activity_settings
from strawberry_activity.kinds import DEFAULT_KIND, validate_kind
from strawberry_activity.periods import PERIODS, local_today, period_start, period_starts

__all__ = [
    "DEFAULT_PERIODS",
    "METRICS",
    "WINDOWS",
    "LifecyclePoint",
    "RetentionCohort",
    "aget_activity_metrics",
    "aget_lifecycle",
    "aget_power_users",
    "aget_retention",
    "cached",
    "default_range",
    "get_active_users",
    "get_activity_metrics",
    "get_activity_series",
    "get_lifecycle",
    "get_power_users",
    "get_retention",
    "get_stickiness_series",
    "local_today",
    "percent_change",
    "percentage",
    "quick_ratio",
    "stickiness",
    "validate_date",
    "validate_dates",
    "validate_days",
    "validate_period",
    "validate_range",
]

T = TypeVar("T")

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
    validate_dates(start, end)


def validate_date(name: str, value: Any) -> date:
    """``value`` as a calendar day: a ``date``, not a ``datetime``."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    return value


def validate_dates(start: Any, end: Any) -> None:
    """``start .. end``: two dates in order, at most ``MAX_DAYS`` days inclusive."""
    validate_date("start", start)
    validate_date("end", end)
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    limit = int(activity_settings.MAX_DAYS)
    if (end - start).days + 1 > limit:
        raise ValueError(f"the range spans {(end - start).days + 1} days, more than {limit}")


def validate_period(period: Any, start: Any, end: Any) -> None:
    """A growth-analytics request (docs/analytics.md): a known period and a range of dates as for a
    series."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    validate_dates(start, end)


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
    """``round(100 * part / whole, 2)``, 0.0 when ``whole`` is 0 (docs/metrics.md)."""
    return round(100 * part / whole, 2) if whole else 0.0


def stickiness(dau: int, mau: int) -> float:
    """``round(dau / mau, 4)``, 0.0 when ``mau`` is 0 (docs/metrics.md)."""
    return round(dau / mau, 4) if mau else 0.0


def count_active(windows: dict[str, datetime], kind: str) -> dict[str, int]:
    """For each ``name -> since``, the users active since then, plus ``total_users``: one
    SQL query, on ``METRICS_DATABASE``, never cached."""
    return get_backend().counts(windows, kind, activity_settings.METRICS_DATABASE)


def compute_metrics(now: datetime, kind: str) -> dict[str, Any]:
    """The metrics at ``now``, always computed (never cached): one SQL query."""
    counts = count_active({name: now - timedelta(days=d) for name, d in WINDOWS.items()}, kind)
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


def cached(key: str, compute: Callable[[], T]) -> T:
    """``compute()``, kept ``METRICS_CACHE_SECONDS`` in ``CACHE_ALIAS`` (or ``default``)
    under ``strawberry_activity:<key>``; always computed when that setting is 0."""
    seconds = int(activity_settings.METRICS_CACHE_SECONDS)
    if seconds <= 0:
        return compute()
    cache = caches[activity_settings.CACHE_ALIAS or "default"]
    full_key = f"strawberry_activity:{key}"
    value: T | None = cache.get(full_key)
    if value is None:
        value = compute()
        cache.set(full_key, value, timeout=seconds)
    return value


def activity_kinds() -> list[str]:
    """The kinds worth showing: the default one, those of ``MUTATION_KINDS`` and any kind
    already stored (cached like the metrics: it reads the activity table)."""

    def compute() -> list[str]:
        stored = get_backend().stored_kinds(activity_settings.METRICS_DATABASE)
        configured = activity_settings.MUTATION_KINDS.values()
        return [DEFAULT_KIND, *sorted({*configured, *stored} - {DEFAULT_KIND})]

    return cached("kinds", compute)


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
    if now is not None:
        return compute_metrics(_now(now), kind)
    return cached(f"metrics:{kind}", lambda: compute_metrics(_now(None), kind))


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


# -- growth analytics (docs/analytics.md) ---------------------------------------------


@dataclass(frozen=True)
class RetentionCohort:
    """The users whose first period is ``start``, and how many of them came back.

    ``retained[i]`` is how many of the ``size`` users were active ``i`` periods later
    (``retained[0] == size``), for every period up to the last one asked for: the rows of
    a retention triangle.

    >>> cohort = get_retention(date(2026, 6, 1), date(2026, 6, 30))[0]
    >>> cohort.start, cohort.size, cohort.retained
    (datetime.date(2026, 6, 1), 120, (120, 54, 41, 38, 35))
    >>> cohort.percentages()
    (100.0, 45.0, 34.17, 31.67, 29.17)
    """

    start: date
    size: int
    retained: tuple[int, ...]

    def percentages(self) -> tuple[float, ...]:
        """``retained`` as percentages of ``size`` (``percentage``: 0.0 for no users)."""
        return tuple(percentage(n, self.size) for n in self.retained)


@dataclass(frozen=True)
class LifecyclePoint:
    """Who was active in the period starting on ``start``, against the period before.

    ``new + returning + resurrecting`` users were active in it, ``returning + dormant`` in
    the period before. ``quick_ratio = round((new + resurrecting) / dormant, 4)``, None
    when ``dormant`` is 0: above 1, the active base grows.

    >>> get_lifecycle(date(2026, 6, 1), date(2026, 6, 30))[0]
    LifecyclePoint(start=datetime.date(2026, 6, 1), new=40, returning=310, resurrecting=25,
                   dormant=52, quick_ratio=1.25)
    """

    start: date
    new: int
    returning: int
    resurrecting: int
    dormant: int
    quick_ratio: float | None

    @property
    def active(self) -> int:
        """Users active in the period: ``new + returning + resurrecting``."""
        return self.new + self.returning + self.resurrecting


#: Periods shown when no range is asked for (the dashboard, ``activity_report``).
DEFAULT_PERIODS: dict[str, int] = {"day": 28, "week": 12, "month": 6}


def default_range(period: str, end: date | None = None) -> tuple[date, date]:
    """The range the dashboard and ``activity_report`` show without one: the last 28
    days, 12 weeks or 6 months up to ``end`` (default: today), shortened to ``MAX_DAYS``.

    >>> default_range("week", date(2026, 6, 30))
    (datetime.date(2026, 4, 13), datetime.date(2026, 6, 30))
    """
    last = local_today() if end is None else end
    first = last
    for _ in range(DEFAULT_PERIODS[period] - 1):
        first = period_start(first, period) - timedelta(days=1)
    first = max(
        period_start(first, period), last - timedelta(days=int(activity_settings.MAX_DAYS) - 1)
    )
    return first, last


def percent_change(current: int, previous: int) -> float | None:
    """``round(100 * (current - previous) / previous, 1)``: the change against a previous
    period, in percent; None when ``previous`` is 0.

    >>> percent_change(1100, 1000)
    10.0
    """
    return round(100 * (current - previous) / previous, 1) if previous else None


def quick_ratio(new: int, resurrecting: int, dormant: int) -> float | None:
    """``round((new + resurrecting) / dormant, 4)``, None when ``dormant`` is 0."""
    return round((new + resurrecting) / dormant, 4) if dormant else None


def _key(*parts: object) -> str:
    return ":".join(quote(str(part), safe="") for part in parts)


def get_retention(
    start: date, end: date, *, period: str = "week", kind: str | None = None
) -> list[RetentionCohort]:
    """One cohort per period from the one holding ``start`` to the one holding ``end``
    (empty ones included): its users (those whose first period it is) and how many of them
    were active in each later period up to the one holding ``end``. One SQL query.

    ``period`` is ``"day"``, ``"week"`` (Monday to Sunday) or ``"month"``, over calendar
    days in ``DAY_TIMEZONE``; a user's first period holds their earliest ledger day.

    >>> [c.retained for c in get_retention(date(2026, 6, 1), date(2026, 6, 21))]
    [(120, 54, 41), (95, 40), (101,)]
    """
    validate_period(period, start, end)
    kind = validate_kind(kind)

    def compute() -> list[RetentionCohort]:
        counts = get_backend().retention_counts(
            period, start, end, kind, activity_settings.METRICS_DATABASE
        )
        periods = period_starts(start, end, period)
        cohorts = []
        for i, cohort in enumerate(periods):
            retained = tuple(counts.get((cohort, active), 0) for active in periods[i:])
            cohorts.append(RetentionCohort(start=cohort, size=retained[0], retained=retained))
        return cohorts

    return cached(_key("retention", kind, period, start, end), compute)


async def aget_retention(
    start: date, end: date, *, period: str = "week", kind: str | None = None
) -> list[RetentionCohort]:
    """``get_retention`` for async code.

    >>> cohorts = await aget_retention(date(2026, 6, 1), date(2026, 6, 30))
    """
    return await sync_to_async(get_retention)(start, end, period=period, kind=kind)


def get_lifecycle(
    start: date, end: date, *, period: str = "week", kind: str | None = None
) -> list[LifecyclePoint]:
    """One point per period from the one holding ``start`` to the one holding ``end``:
    its new, returning, resurrecting and dormant users, and the quick ratio. One SQL query.

    ``new``: the period is their first; ``returning``: active in it and in the period
    before; ``resurrecting``: active in it, not in the one before, not new; ``dormant``:
    active in the period before, not in it.

    >>> get_lifecycle(date(2026, 6, 1), date(2026, 6, 14))[1].quick_ratio
    0.8571
    """
    validate_period(period, start, end)
    kind = validate_kind(kind)

    def compute() -> list[LifecyclePoint]:
        counts = get_backend().lifecycle_counts(
            period, start, end, kind, activity_settings.METRICS_DATABASE
        )
        points = []
        for first in period_starts(start, end, period):
            new, returning, resurrecting, dormant = counts.get(first, (0, 0, 0, 0))
            points.append(
                LifecyclePoint(
                    start=first,
                    new=new,
                    returning=returning,
                    resurrecting=resurrecting,
                    dormant=dormant,
                    quick_ratio=quick_ratio(new, resurrecting, dormant),
                )
            )
        return points

    return cached(_key("lifecycle", kind, period, start, end), compute)


async def aget_lifecycle(
    start: date, end: date, *, period: str = "week", kind: str | None = None
) -> list[LifecyclePoint]:
    """``get_lifecycle`` for async code.

    >>> points = await aget_lifecycle(date(2026, 6, 1), date(2026, 6, 30), period="day")
    """
    return await sync_to_async(get_lifecycle)(start, end, period=period, kind=kind)


def get_power_users(
    *, days: int = 28, end: date | None = None, kind: str | None = None
) -> dict[int, int]:
    """``{n: users active on exactly n of the days}`` over the ``days`` calendar days
    ending on ``end`` (default: today in ``DAY_TIMEZONE``), for every ``n`` from 1 to
    ``days``, zeros included. One SQL query.

    >>> get_power_users(days=7)
    {1: 310, 2: 122, 3: 64, 4: 40, 5: 31, 6: 22, 7: 18}
    """
    days = validate_days(days)
    last = local_today() if end is None else validate_date("end", end)
    kind = validate_kind(kind)
    first = last - timedelta(days=days - 1)

    def compute() -> dict[int, int]:
        counts = get_backend().active_day_counts(
            first, last, kind, activity_settings.METRICS_DATABASE
        )
        return {n: counts.get(n, 0) for n in range(1, days + 1)}

    return cached(_key("power_users", kind, days, last), compute)


async def aget_power_users(
    *, days: int = 28, end: date | None = None, kind: str | None = None
) -> dict[int, int]:
    """``get_power_users`` for async code.

    >>> histogram = await aget_power_users(days=28)
    """
    return await sync_to_async(get_power_users)(days=days, end=end, kind=kind)
