"""The metrics as GraphQL: mix ``ActivityQuery`` into your ``Query``.

::

    import strawberry
    from strawberry_activity.schema import ActivityQuery

    @strawberry.type
    class Query(ActivityQuery):
        ...

    # query { activeUsers { dau wau mau stickiness count(days: 3)
    #         series(metric: MAU, start: "2026-06-01", end: "2026-06-30") { date value }
    #         retention(start: "2026-06-01", end: "2026-08-31") { start size retained }
    #         lifecycle(start: "2026-06-01", end: "2026-08-31", period: MONTH) { start new }
    #         powerUsers(days: 28) { days users } } }

Only users allowed by ``METRICS_PERMISSION`` (default: active staff) see anything; everyone
else gets a GraphQL permission error and no metric query runs. The permission is checked
in the ``activeUsers`` resolver, which under async views runs in Django's sync thread (as
``strawberry_django`` resolvers do), so the session user can load there.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection
from strawberry_django.resolvers import django_resolver

from strawberry_activity.conf import activity_settings
from strawberry_activity.kinds import validate_kind
from strawberry_activity.metrics import (
    WINDOWS,
    get_active_users,
    get_activity_metrics,
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    validate_date,
    validate_days,
    validate_period,
    validate_range,
)

__all__ = [
    "ActiveUsers",
    "ActivityMetric",
    "ActivityPeriod",
    "ActivityPoint",
    "ActivityQuery",
    "LifecyclePointType",
    "PowerUsersBucket",
    "RetentionCohortType",
]

# The fields of ActiveUsers computed together by the one metrics query.
_SUMMARY_FIELDS = frozenset(
    {
        "dau",
        "wau",
        "mau",
        "totalUsers",
        "dauPercentage",
        "wauPercentage",
        "mauPercentage",
        "stickiness",
        "asOf",
    }
)


@strawberry.enum(description="A rolling (now) or calendar-day (series) activity window.")
class ActivityMetric(Enum):
    DAU = "dau"
    WAU = "wau"
    MAU = "mau"


@strawberry.type(description="One calendar day of an activity series.")
class ActivityPoint:
    date: datetime.date
    value: int


@strawberry.enum(
    description="A calendar period of the growth analytics, in DAY_TIMEZONE: a day, a week "
    "(Monday to Sunday) or a calendar month."
)
class ActivityPeriod(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@strawberry.type(
    name="RetentionCohort",
    description="The users whose first period is `start`, and how many came back later.",
)
class RetentionCohortType:
    start: datetime.date = strawberry.field(description="The first day of the period.")
    size: int = strawberry.field(description="Users whose first period it is.")
    retained: list[int] = strawberry.field(
        description="Users of the cohort active i periods later (retained[0] = size), up "
        "to the period holding `end`."
    )


@strawberry.type(
    name="LifecyclePoint",
    description="Who was active in the period starting on `start`, against the one before.",
)
class LifecyclePointType:
    start: datetime.date = strawberry.field(description="The first day of the period.")
    new: int = strawberry.field(description="Users whose first period it is.")
    returning: int = strawberry.field(description="Active in it and in the period before.")
    resurrecting: int = strawberry.field(
        description="Active in it, not in the period before, and not new."
    )
    dormant: int = strawberry.field(description="Active in the period before, not in it.")
    quick_ratio: float | None = strawberry.field(
        description="(new + resurrecting) / dormant, rounded to 4 decimals; null when dormant is 0."
    )


@strawberry.type(description="Users active on exactly `days` of the days asked for.")
class PowerUsersBucket:
    days: int
    users: int


def _check(validate: Any, *args: Any) -> Any:
    """Run a validator; its message becomes the GraphQL error (no query has run)."""
    try:
        return validate(*args)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


@strawberry.type(description="Active users: rolling windows now, and daily history.")
class ActiveUsers:
    kind: strawberry.Private[str]
    summary: strawberry.Private[dict[str, Any] | None]

    @strawberry.field(description="Users active in the last 24 hours.")
    def dau(self) -> int:
        return int(self._summary()["dau"])

    @strawberry.field(description=f"Users active in the last {WINDOWS['wau']} days.")
    def wau(self) -> int:
        return int(self._summary()["wau"])

    @strawberry.field(description=f"Users active in the last {WINDOWS['mau']} days.")
    def mau(self) -> int:
        return int(self._summary()["mau"])

    @strawberry.field(description="All users (the user model's default manager).")
    def total_users(self) -> int:
        return int(self._summary()["total_users"])

    @strawberry.field(description="100 * dau / totalUsers, rounded to 2 decimals.")
    def dau_percentage(self) -> float:
        return float(self._summary()["dau_percentage"])

    @strawberry.field(description="100 * wau / totalUsers, rounded to 2 decimals.")
    def wau_percentage(self) -> float:
        return float(self._summary()["wau_percentage"])

    @strawberry.field(description="100 * mau / totalUsers, rounded to 2 decimals.")
    def mau_percentage(self) -> float:
        return float(self._summary()["mau_percentage"])

    @strawberry.field(description="dau / mau, rounded to 4 decimals (0 when mau is 0).")
    def stickiness(self) -> float:
        return float(self._summary()["stickiness"])

    @strawberry.field(description="The instant the rolling windows end at.")
    def as_of(self) -> datetime.datetime:
        value: datetime.datetime = self._summary()["as_of"]
        return value

    @strawberry.field(description="Users active in the last `days` days (1 to MAX_DAYS).")
    @django_resolver
    def count(self, days: int) -> int:
        days = _check(validate_days, days)
        return int(get_active_users(days, kind=self.kind).count())

    @strawberry.field(
        description="One point per calendar day from start to end (inclusive), in DAY_TIMEZONE."
    )
    @django_resolver
    def series(
        self, metric: ActivityMetric, start: datetime.date, end: datetime.date
    ) -> list[ActivityPoint]:
        _check(validate_range, metric.value, start, end)
        return [
            ActivityPoint(date=day, value=value)
            for day, value in get_activity_series(metric.value, start, end, kind=self.kind)
        ]

    @strawberry.field(
        description="One retention cohort per period from the one holding start to the one "
        "holding end (calendar periods in DAY_TIMEZONE)."
    )
    @django_resolver
    def retention(
        self,
        start: datetime.date,
        end: datetime.date,
        period: ActivityPeriod = ActivityPeriod.WEEK,
    ) -> list[RetentionCohortType]:
        _check(validate_period, period.value, start, end)
        return [
            RetentionCohortType(start=c.start, size=c.size, retained=list(c.retained))
            for c in get_retention(start, end, period=period.value, kind=self.kind)
        ]

    @strawberry.field(
        description="New, returning, resurrecting and dormant users and the quick ratio, "
        "per period from the one holding start to the one holding end."
    )
    @django_resolver
    def lifecycle(
        self,
        start: datetime.date,
        end: datetime.date,
        period: ActivityPeriod = ActivityPeriod.WEEK,
    ) -> list[LifecyclePointType]:
        _check(validate_period, period.value, start, end)
        return [
            LifecyclePointType(
                start=p.start,
                new=p.new,
                returning=p.returning,
                resurrecting=p.resurrecting,
                dormant=p.dormant,
                quick_ratio=p.quick_ratio,
            )
            for p in get_lifecycle(start, end, period=period.value, kind=self.kind)
        ]

    @strawberry.field(
        description="Users by number of active days among the `days` calendar days ending "
        "on `end` (default: today in DAY_TIMEZONE): one bucket per number, 1 to days."
    )
    @django_resolver
    def power_users(
        self, days: int = 28, end: datetime.date | None = None
    ) -> list[PowerUsersBucket]:
        _check(_validate_power_users, days, end)
        histogram = get_power_users(days=days, end=end, kind=self.kind)
        return [PowerUsersBucket(days=n, users=users) for n, users in histogram.items()]

    def _summary(self) -> dict[str, Any]:
        # Filled by the activeUsers resolver whenever a summary field is selected.
        assert self.summary is not None
        return self.summary


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return value  # validate_range says what is wrong with it
    return value


def _validate_power_users(days: Any, end: Any) -> None:
    validate_days(days)
    if end is not None:
        validate_date("end", end)


def _as_period(value: Any) -> Any:
    """A period argument as the API spells it: a variable arrives as the enum member, a
    literal as its source text, an omitted one as None (the default, WEEK)."""
    if value is None:
        return ActivityPeriod.WEEK.value
    if isinstance(value, Enum):
        return value.value
    return str(value).lower()


def _as_int(value: Any) -> Any:
    # A literal arrives as its source text; GraphQL has checked it is an Int.
    return int(value) if isinstance(value, str) else value


def _authorize(info: Info) -> None:
    permission_class: type[BasePermission] = activity_settings.METRICS_PERMISSION
    permission = permission_class()
    if permission.has_permission(None, info) is not True:
        permission.on_unauthorized()
        raise PermissionError(permission.message or "Permission denied")  # pragma: no cover


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields among ``selections``, looking through fragments (at any depth)."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def _selected(info: Info) -> list[SelectedField]:
    """The fields selected under ``activeUsers``."""
    return [f for field in info.selected_fields for f in _fields(field.selections)]


@strawberry.type
class ActivityQuery:
    """Adds ``activeUsers`` to a Query type (``class Query(ActivityQuery): ...``)."""

    @strawberry.field(
        description="Activity metrics (staff only). `kind` selects a stricter definition "
        'of activity, e.g. "transaction".'
    )
    @django_resolver
    def active_users(self, info: Info, kind: str | None = None) -> ActiveUsers:
        _authorize(info)
        kind = _check(validate_kind, kind)
        selected = _selected(info)
        # Out-of-range input fails before the summary query, not after it (docs/graphql.md).
        for field in selected:
            if field.name == "count":
                _check(validate_days, _as_int(field.arguments.get("days")))
            elif field.name == "series":
                args = field.arguments
                # GraphQL has checked the types. Literals arrive as text, variables as
                # Python values (the enum member, a date).
                metric = args.get("metric")
                _check(
                    validate_range,
                    metric.value if isinstance(metric, Enum) else str(metric).lower(),
                    *(_as_date(args.get(name)) for name in ("start", "end")),
                )
            elif field.name in ("retention", "lifecycle"):
                args = field.arguments
                _check(
                    validate_period,
                    _as_period(args.get("period")),
                    *(_as_date(args.get(name)) for name in ("start", "end")),
                )
            elif field.name == "powerUsers":
                args = field.arguments
                days = _as_int(args.get("days", 28))
                _check(_validate_power_users, days, _as_date(args.get("end")))
        summary = None
        if {field.name for field in selected} & _SUMMARY_FIELDS:
            summary = get_activity_metrics(kind=kind)
        return ActiveUsers(kind=kind, summary=summary)
