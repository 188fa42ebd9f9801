"""Calendar periods of the growth analytics (docs/analytics.md): days, weeks, months.

A week runs Monday to Sunday, a month is a calendar month; both are made of the ledger's
calendar days (in ``DAY_TIMEZONE``). Time zones enter in two places only: ``local_today``
(the last day of the calendar) and ``first_open_day`` (days before it are over). A period is
named by its first day, and numbered (``period_number``) so that consecutive periods are
consecutive integers, which is how the SQL of the backends compares them.

>>> period_start(date(2026, 7, 1), "week")
datetime.date(2026, 6, 29)
>>> period_starts(date(2026, 6, 15), date(2026, 8, 2), "month")
[datetime.date(2026, 6, 1), datetime.date(2026, 7, 1), datetime.date(2026, 8, 1)]
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from strawberry_activity.conf import activity_settings

__all__ = [
    "GRACE",
    "PERIODS",
    "first_open_day",
    "local_today",
    "next_period",
    "numbered_period",
    "period_end",
    "period_number",
    "period_start",
    "period_starts",
]

#: The periods, shortest first.
PERIODS = ("day", "week", "month")

_EPOCH = date(1970, 1, 1)
# Monday 1969-12-29: weeks are counted from the Monday before the epoch.
_MONDAY = _EPOCH - timedelta(days=3)

#: How long a day stays open after its midnight: a transaction that wrote a ledger row
#: just before midnight may commit after it, and a rollup must not miss that row.
GRACE = timedelta(hours=1)


def local_today() -> date:
    """Today in ``DAY_TIMEZONE``: the last day of the ledger's calendar."""
    return timezone.now().astimezone(ZoneInfo(activity_settings.DAY_TIMEZONE)).date()


def first_open_day() -> date:
    """The first day that is not over: ``GRACE`` after its midnight, a day is over, and its
    numbers may be kept (rollups). A later change to it (a late write, a backfill, a
    prune) deletes what was kept of it."""
    zone = ZoneInfo(activity_settings.DAY_TIMEZONE)
    return (timezone.now() - GRACE).astimezone(zone).date()


def period_number(day: date, period: str) -> int:
    """The period holding ``day`` as an integer; the next period is that integer + 1.

    Days since 1970-01-01, weeks since Monday 1969-12-29, or ``year * 12 + month - 1``.
    """
    if period == "day":
        return (day - _EPOCH).days
    if period == "week":
        return (day - _MONDAY).days // 7
    if period == "month":
        return day.year * 12 + day.month - 1
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def numbered_period(number: int, period: str) -> date:
    """The first day of the period ``number`` (the inverse of ``period_number``)."""
    if period == "day":
        return _EPOCH + timedelta(days=number)
    if period == "week":
        return _MONDAY + timedelta(weeks=number)
    year, month = divmod(number, 12)
    return date(year, month + 1, 1)


def period_start(day: date, period: str) -> date:
    """The first day of the period holding ``day``: the day itself, its Monday, or the
    first of its month."""
    return numbered_period(period_number(day, period), period)


def next_period(day: date, period: str) -> date:
    """The first day of the period after the one holding ``day``."""
    return numbered_period(period_number(day, period) + 1, period)


def period_end(day: date, period: str) -> date:
    """The last day of the period holding ``day``."""
    return next_period(day, period) - timedelta(days=1)


def period_starts(first: date, last: date, period: str) -> list[date]:
    """The first days of every period from the one holding ``first`` to the one holding
    ``last``, both included (empty when ``last`` comes first)."""
    start, stop = period_number(first, period), period_number(last, period)
    return [numbered_period(n, period) for n in range(start, stop + 1)]
