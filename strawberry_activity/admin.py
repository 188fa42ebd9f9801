"""The admin: the activity tables (read-only) and a staff dashboard of the metrics.

With ``django.contrib.admin`` installed, both tables and the dashboard are registered on
``admin.site``. The dashboard is the changelist of ``ActivityDashboard``, a proxy model with
no table of its own, so the admin index lists it ("Activity dashboard") in this app's
section like any model::

    /admin/strawberry_activity/activitydashboard/          (URL name:
                                                         "admin:strawberry_activity_dashboard")

Its first address, ``/admin/strawberry_activity/useractivity/dashboard/``, redirects there.

The dashboard shows DAU / WAU / MAU, their percentages and stickiness now (with the change
against the previous period), a 90-day chart, and the growth analytics of a period (day,
week or month) and date range: a retention triangle, a lifecycle chart with the quick
ratio and a power-user histogram. All server-side (SVG and HTML: no JavaScript, no
network), for the default kind or any other. Every number comes from the metrics API
(``get_activity_metrics``, ``get_activity_series``, ``get_stickiness_series``,
``get_retention``, ``get_lifecycle``, ``get_power_users``): the admin computes nothing
itself.

On a custom ``AdminSite``::

    from strawberry_activity.admin import register_activity_admin

    register_activity_admin(my_site)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from math import ceil, log10
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from strawberry_activity.metrics import (
    METRICS,
    WINDOWS,
    LifecyclePoint,
    RetentionCohort,
    activity_kinds,
    default_range,
    get_activity_metrics,
    get_activity_series,
    get_lifecycle,
    get_power_users,
    get_retention,
    get_stickiness_series,
    local_today,
    percent_change,
    validate_period,
)
from strawberry_activity.models import DEFAULT_KIND, ActivityDashboard, ActivityDay, UserActivity
from strawberry_activity.periods import PERIODS, period_start

if TYPE_CHECKING:
    from django.template.response import _TemplateForResponseT
    from django.utils.functional import _StrOrPromise as StrOrPromise

    UserActivityAdminBase = admin.ModelAdmin[UserActivity]
    ActivityDayAdminBase = admin.ModelAdmin[ActivityDay]
    ActivityDashboardAdminBase = admin.ModelAdmin[ActivityDashboard]
else:
    UserActivityAdminBase = ActivityDayAdminBase = ActivityDashboardAdminBase = admin.ModelAdmin

__all__ = [
    "ActivityDashboardAdmin",
    "ActivityDayAdmin",
    "UserActivityAdmin",
    "build_chart",
    "build_histogram",
    "build_lifecycle_chart",
    "build_retention_table",
    "register_activity_admin",
]

#: Days shown by the dashboard's trend chart.
CHART_DAYS = 90
#: Colour of each line (the same in light and dark themes).
COLORS = {"dau": "#e4572e", "wau": "#3a8fb7", "mau": "#205067", "stickiness": "#5b8e3e"}
LABELS = {"dau": "DAU", "wau": "WAU", "mau": "MAU", "stickiness": "Stickiness (DAU / MAU)"}
#: Days counted by the power-user histogram (ending on the growth range's last day).
POWER_DAYS = 28
#: Colours of the lifecycle chart and the histogram (the same in light and dark themes).
LIFECYCLE = {
    "new": ("#5b8e3e", _("New")),
    "returning": ("#3a8fb7", _("Returning")),
    "resurrecting": ("#e8a33d", _("Resurrecting")),
    "dormant": ("#e4572e", _("Dormant")),
}
PERIOD_LABELS = {"day": _("Day"), "week": _("Week"), "month": _("Month")}


# -- list filters ---------------------------------------------------------------------

DAU, WAU, MAU = WINDOWS["dau"], WINDOWS["wau"], WINDOWS["mau"]
RECENCY = (
    (str(DAU), _("Last 24 hours")),
    (str(WAU), _("Last %d days") % WAU),
    (str(MAU), _("Last %d days") % MAU),
)
OLDER = ("older", _("Older than %d days") % MAU)


class _WindowFilter(admin.SimpleListFilter):
    """The windows of ``RECENCY`` and everything older, on ``field``: a subclass says where
    a window of so many days starts (``first``)."""

    parameter_name = "active"
    field: ClassVar[str]

    def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[Any, StrOrPromise]]:
        return (*RECENCY, OLDER)

    def first(self, days: int) -> Any:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value is None:
            return queryset
        if value == "older":
            return queryset.filter(**{f"{self.field}__lt": self.first(MAU)})
        return queryset.filter(**{f"{self.field}__gte": self.first(int(value))})


class LastActivityFilter(_WindowFilter):
    """Rolling windows, as DAU / WAU / MAU count them, and everything older."""

    title = _("last activity")
    field = "last_activity_at"

    def first(self, days: int) -> Any:
        return timezone.now() - timedelta(days=days)


class DayFilter(_WindowFilter):
    """Calendar days of the ledger (in ``DAY_TIMEZONE``): today, the last WAU or MAU days."""

    title = _("day")
    field = "day"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[Any, StrOrPromise]]:
        return ((str(DAU), _("Today")), *RECENCY[1:], OLDER)

    def first(self, days: int) -> Any:
        return local_today() - timedelta(days=days - 1)


# -- model admins ---------------------------------------------------------------------


class NoWritesMixin:
    """Activity is written by ``touch_last_activity`` only: the admin just looks."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyMixin(NoWritesMixin):
    """The activity tables: read-only, and large (no exact counts, users joined, searched
    by name)."""

    list_select_related: ClassVar[bool | list[str] | tuple[str, ...]] = ["user"]
    # Exact counts of a large table on every page load are a full scan.
    show_full_result_count: ClassVar[bool] = False
    change_list_template: ClassVar[_TemplateForResponseT | None] = (
        "admin/strawberry_activity/change_list.html"
    )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return user_search_fields()


def user_search_fields() -> list[str]:
    """Search by the user model's login name, and its e-mail when it has one."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    try:
        names.append(user_model.get_email_field_name())
        user_model._meta.get_field(names[-1])
    except (AttributeError, FieldDoesNotExist):
        names = names[:1]
    return [f"user__{name}" for name in dict.fromkeys(names)]


class UserActivityAdmin(ReadOnlyMixin, UserActivityAdminBase):
    """The last activity of each user and kind."""

    list_display = ["user", "kind", "last_activity_at"]
    list_filter = [LastActivityFilter, "kind"]
    ordering = ["-last_activity_at"]

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs: "<path:object_id>/" would swallow "dashboard/".
        moved = path("dashboard/", self.admin_site.admin_view(self.dashboard_moved))
        return [moved, *super().get_urls()]

    def dashboard_moved(self, request: HttpRequest) -> HttpResponse:
        """The dashboard's first address, kept for bookmarks and links: a redirect to its
        own, with the query (kind, period, range), for those who may see it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        url = reverse(f"{self.admin_site.name}:strawberry_activity_dashboard")
        query = request.GET.urlencode()
        return HttpResponseRedirect(f"{url}?{query}" if query else url)


class ActivityDashboardAdmin(NoWritesMixin, ActivityDashboardAdminBase):
    """The dashboard, as the changelist of the ``ActivityDashboard`` proxy model: the admin
    index lists it as it lists any model, for the staff who may view user activity."""

    def get_urls(self) -> list[URLPattern]:
        # The changelist only: there are no objects to add, change, delete or log.
        view = self.admin_site.admin_view(self.changelist_view)
        changelist = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", view, name=changelist),
            path("", view, name="strawberry_activity_dashboard"),  # its documented name
        ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The proxy has no permissions of its own: the dashboard shows what the user
        # activity table holds, so who may view (or change) that may view this.
        opts = UserActivity._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Staff only (``admin_view`` sends others to the login page), and only for users
        who may view the activity table."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        kinds = activity_kinds()
        kind = request.GET.get("kind", DEFAULT_KIND)
        if kind not in kinds:
            raise Http404(f"No activity of kind {kind!r}")
        end = local_today()
        start = end - timedelta(days=CHART_DAYS - 1)
        metrics = get_activity_metrics(kind=kind)
        series = {
            name: get_activity_series(name, start, end, kind=kind) for name in reversed(METRICS)
        }
        growth = growth_context(request, kind)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Activity dashboard"),
            # The charts want the width.
            "is_nav_sidebar_enabled": False,
            "opts": self.opts,
            "kinds": [
                {"kind": k, "query": urlencode({"kind": k, **growth["params"]})} for k in kinds
            ],
            "kind": kind,
            "metrics": metrics,
            "cards": cards(metrics, changes(series, end)),
            "growth": growth,
            "chart": build_chart(series),
            "stickiness_chart": build_chart(
                {"stickiness": get_stickiness_series(start, end, kind=kind)},
                height=170,
                percent=True,
            ),
            "start": start,
            "end": end,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/strawberry_activity/dashboard.html", context)


class ActivityDayAdmin(ReadOnlyMixin, ActivityDayAdminBase):
    """The daily ledger: one row per user, kind and calendar day."""

    list_display = ["day", "user", "kind"]
    list_filter = [DayFilter, "kind"]
    ordering = ["-day"]


# -- the dashboard's numbers and chart ------------------------------------------------


def changes(
    series: Mapping[str, Sequence[tuple[date, int]]], today: date
) -> dict[str, dict[str, Any]]:
    """ "vs previous period" for each card, from the daily series: the last complete period
    (the day, 7 or 30 days ending yesterday: today is still in progress) against the one
    before it, calendar days in ``DAY_TIMEZONE``."""
    result = {}
    for name, points in series.items():
        values = dict(points)
        window = WINDOWS[name]
        last = today - timedelta(days=1)
        before = last - timedelta(days=window)
        if last not in values or before not in values:
            continue
        current, previous = values[last], values[before]
        change = percent_change(current, previous)
        span = _("the day") if window == 1 else _("%(n)s days") % {"n": window}
        versus = (
            _("vs the day before") if window == 1 else _("vs previous %(n)s days") % {"n": window}
        )
        result[name] = {
            "current": current,
            "previous": previous,
            "change": change,
            "direction": "flat" if not change else ("up" if change > 0 else "down"),
            "display": "\u2013" if change is None else f"{change:+.1f}%",
            "label": versus,
            "title": _(
                "%(current)s users in %(span)s ending %(last)s, %(previous)s in %(span)s "
                "ending %(before)s (calendar days; today is still in progress)"
            )
            % {
                "current": f"{current:,}",
                "previous": f"{previous:,}",
                "span": span,
                "last": last.isoformat(),
                "before": before.isoformat(),
            },
        }
    return result


def cards(
    metrics: dict[str, Any], deltas: Mapping[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The summary cards, straight from ``get_activity_metrics``, each with its change
    against the previous period (``changes``) when given."""
    total = metrics["total_users"]
    deltas = deltas or {}
    result = [
        {
            "metric": name,
            "label": LABELS[name],
            "value": metrics[name],
            "display": f"{metrics[name]:,}",
            "note": _("%(percent)s%% of %(total)s users")
            % {"percent": metrics[f"{name}_percentage"], "total": f"{total:,}"},
            "delta": deltas.get(name),
        }
        for name in METRICS
    ]
    result.append(
        {
            "metric": "stickiness",
            "label": _("Stickiness"),
            "value": metrics["stickiness"],
            "display": f"{100 * metrics['stickiness']:.1f}%",
            "note": _("DAU / MAU"),
        }
    )
    return result


def nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum at or above ``value`` and a round tick step (1, 2, 2.5 or 5 x 10^n)."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    magnitude = 10 ** int(log10(raw) // 1)
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return step * ceil(value / step), step


def _frame(width: int, height: int, left: int, right: int, top: int, bottom: int) -> dict[str, int]:
    """An SVG chart's size and its plot area (margins given, edges returned)."""
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
    }


def build_chart(
    series: Mapping[str, Sequence[tuple[date, float]]],
    *,
    width: int = 960,
    height: int = 320,
    percent: bool = False,
) -> dict[str, Any]:
    """Coordinates for an SVG line chart of one or more daily series on a shared axis.

    Each point keeps its date and exact value (``data-date`` / ``data-value`` in the SVG),
    so what is drawn can be checked against the API.

    >>> chart = build_chart({"dau": [(date(2026, 6, 1), 3), (date(2026, 6, 2), 5)]})
    >>> chart["lines"][0]["points"][1]["value"]
    5
    """
    left, right, top, bottom = 56, 16, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    days = [day for day, _ in next(iter(series.values()))]
    top_value, step = nice_ceiling(max((v for s in series.values() for _, v in s), default=0))

    def x(index: int) -> float:
        return round(left + plot_w * index / max(1, len(days) - 1), 1)

    def y(value: float) -> float:
        return round(top + plot_h * (1 - value / top_value), 1)

    label: Callable[[float], str] = (
        (lambda v: f"{100 * v:.0f}%") if percent else (lambda v: f"{v:,.0f}")
    )
    ticks = [step * i for i in range(round(top_value / step) + 1)]
    lines = []
    for name, points in series.items():
        dots = [
            {"x": x(i), "y": y(v), "date": day.isoformat(), "value": v, "label": label(v)}
            for i, (day, v) in enumerate(points)
        ]
        lines.append(
            {
                "metric": name,
                "label": LABELS.get(name, name),
                "color": COLORS.get(name, "#888"),
                "path": " ".join(f"{d['x']},{d['y']}" for d in dots),
                "points": dots,
            }
        )
    return {
        **_frame(width, height, left, right, top, bottom),
        "y_ticks": [{"y": y(t), "label": label(t)} for t in ticks],
        # A label on each Monday (weeks read naturally), thinned to fit.
        "x_ticks": [
            {"x": x(i), "label": f"{day:%b} {day.day}"}
            for i, day in enumerate(days)
            if day.weekday() == 0 and (len(days) <= 31 or (day.toordinal() // 7) % 2 == 0)
        ],
        "lines": lines,
    }


# -- growth analytics -------------------------------------------------------------------


def _date_param(request: HttpRequest, name: str, errors: list[str]) -> date | None:
    value = request.GET.get(name) or None
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(_("%(name)s is not a date: %(value)r") % {"name": name, "value": value})
        return None


def growth_context(request: HttpRequest, kind: str) -> dict[str, Any]:
    """The growth section: the period and range asked for (``?period=week&start=...&end=...``,
    by default the last 12 weeks), and the retention table, lifecycle chart and power-user
    histogram from ``get_retention``, ``get_lifecycle`` and ``get_power_users``. A bad
    input is shown as an error above the default range, never a 500."""
    errors: list[str] = []
    period = request.GET.get("period", "week")
    if period not in PERIODS:
        errors.append(_("Unknown period %(period)r.") % {"period": period})
        period = "week"
    start, end = _date_param(request, "start", errors), _date_param(request, "end", errors)
    params = {"period": period} if "period" in request.GET and not errors else {}
    default_start, default_end = default_range(period, end)
    start, end = start or default_start, end or default_end
    try:
        validate_period(period, start, end)
    except ValueError as exc:
        errors.append(str(exc))
        start, end = default_range(period)
    if not errors:
        params.update({k: str(request.GET[k]) for k in ("start", "end") if request.GET.get(k)})
    today = local_today()
    cohorts = get_retention(start, end, period=period, kind=kind)
    points = get_lifecycle(start, end, period=period, kind=kind)
    histogram = get_power_users(days=POWER_DAYS, end=end, kind=kind)
    others = {k: v for k, v in params.items() if k != "period"}
    return {
        "period": period,
        "period_label": PERIOD_LABELS[period].lower(),
        "start": start,
        "end": end,
        "errors": errors,
        "params": params,
        "periods": [
            {
                "period": p,
                "label": PERIOD_LABELS[p],
                "query": urlencode({"kind": kind, "period": p, **others}),
                "selected": p == period,
            }
            for p in PERIODS
        ],
        "retention": build_retention_table(cohorts, period, today),
        "lifecycle": build_lifecycle_chart(points, period, today),
        "histogram": build_histogram(histogram),
        "power_days": POWER_DAYS,
        "power_start": end - timedelta(days=POWER_DAYS - 1),
    }


def period_label(day: date, period: str) -> str:
    """How a period is named on an axis: "Nov 3" (a day or the week starting on it) or
    "Nov 2026"."""
    return f"{day:%b %Y}" if period == "month" else f"{day:%b} {day.day}"


def build_retention_table(
    cohorts: Sequence[RetentionCohort], period: str, today: date
) -> dict[str, Any]:
    """Rows of the retention triangle: each cell a percentage of its cohort, shaded by it
    (the shade is ``alpha`` for ``rgba``), with the count for the tooltip. Periods still in
    progress (holding ``today``) are marked.

    >>> table = build_retention_table(get_retention(start, end), "week", today)
    >>> table["rows"][0]["cells"][1]["percent"]
    45.0
    """
    current = period_start(today, period)
    starts = [cohort.start for cohort in cohorts]
    width = len(cohorts[0].retained) if cohorts else 0
    rows = []
    for i, cohort in enumerate(cohorts):
        cells = []
        for offset, (count, percent) in enumerate(
            zip(cohort.retained, cohort.percentages(), strict=True)
        ):
            shade = round(0.06 + 0.84 * percent / 100, 3) if cohort.size else 0.0
            cells.append(
                {
                    "offset": offset,
                    "count": count,
                    "percent": percent,
                    "display": f"{percent:.0f}%" if cohort.size else "",
                    "alpha": shade,
                    "dark": shade > 0.5,
                    "in_progress": bool(cohort.size) and starts[i + offset] == current,
                    "title": _("%(count)s of %(size)s users (%(percent)s%%)")
                    % {"count": f"{count:,}", "size": f"{cohort.size:,}", "percent": percent},
                }
            )
        rows.append(
            {
                "start": cohort.start.isoformat(),
                "label": period_label(cohort.start, period),
                "size": cohort.size,
                "cells": cells,
                "blank": range(width - len(cells)),
            }
        )
    return {"rows": rows, "offsets": range(width), "period": period}


def _axis(top: float, plot: tuple[float, float], label: Callable[[float], str]) -> list[Any]:
    """Ticks of an axis from 0 to ``top`` mapped onto ``plot`` (y of 0, y of top)."""
    maximum, step = nice_ceiling(top)
    zero, high = plot
    return [
        {"y": round(zero + (high - zero) * t / maximum, 1), "label": label(t)}
        for t in (step * i for i in range(round(maximum / step) + 1))
    ]


def build_lifecycle_chart(
    points: Sequence[LifecyclePoint],
    period: str,
    today: date,
    *,
    width: int = 780,
    height: int = 320,
) -> dict[str, Any]:
    """An SVG stacked-bar chart: new, returning and resurrecting users above the axis,
    dormant ones below it, and the quick ratio as a line on its own axis (right). Each bar
    segment and point keeps its period and exact value (``data-*`` in the SVG)."""
    left, right, top, bottom = 52, 46, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    up, _step = nice_ceiling(max((p.active for p in points), default=0))
    down, _step = nice_ceiling(max((p.dormant for p in points), default=0))
    down = down if any(p.dormant for p in points) else up / 4
    zero = top + plot_h * up / (up + down)
    scale = plot_h / (up + down)
    ratios = [p.quick_ratio for p in points if p.quick_ratio is not None]
    ratio_top, _step = nice_ceiling(max([1.0, *ratios]))
    slot = plot_w / max(1, len(points))
    bar = max(2.0, min(48.0, slot * 0.68))
    current = period_start(today, period)
    bars, line = [], []
    for i, point in enumerate(points):
        x = left + slot * i + (slot - bar) / 2
        centre = round(x + bar / 2, 1)
        y = zero
        segments = []
        for status in ("new", "returning", "resurrecting"):
            value = getattr(point, status)
            h = value * scale
            y -= h
            segments.append(_segment(status, value, round(y, 1), round(h, 1), point, period))
        h = point.dormant * scale
        segments.append(
            _segment("dormant", point.dormant, round(zero, 1), round(h, 1), point, period)
        )
        if point.quick_ratio is not None:
            line.append(
                {
                    "x": centre,
                    "y": round(zero - (zero - top) * point.quick_ratio / ratio_top, 1),
                    "value": point.quick_ratio,
                    "start": point.start.isoformat(),
                    "title": _("Quick ratio %(label)s: %(value)s")
                    % {"label": period_label(point.start, period), "value": point.quick_ratio},
                }
            )
        bars.append(
            {
                "x": round(x, 1),
                "width": round(bar, 1),
                "centre": centre,
                "start": point.start.isoformat(),
                "segments": segments,
                "in_progress": point.start == current,
            }
        )
    every = max(1, ceil(len(points) / (plot_w / 56)))
    return {
        **_frame(width, height, left, right, top, bottom),
        "zero": round(zero, 1),
        "bars": bars,
        "line": line,
        "path": " ".join(f"{p['x']},{p['y']}" for p in line),
        "legend": [
            {"status": k, "color": c, "label": label} for k, (c, label) in LIFECYCLE.items()
        ],
        "y_ticks": [
            *_axis(up, (zero, top), lambda v: f"{v:,.0f}"),
            *_axis(down, (zero, top + plot_h), lambda v: f"\u2212{v:,.0f}" if v else "")[1:],
        ],
        "ratio_ticks": _axis(ratio_top, (zero, top), lambda v: f"{v:g}"),
        "ratio_one": round(zero - (zero - top) / ratio_top, 1),
        "x_ticks": [
            {"x": b["centre"], "label": period_label(p.start, period)}
            for i, (b, p) in enumerate(zip(bars, points, strict=True))
            if i % every == 0
        ],
    }


def _segment(
    status: str, value: int, y: float, height: float, point: LifecyclePoint, period: str
) -> dict[str, Any]:
    color, label = LIFECYCLE[status]
    return {
        "status": status,
        "value": value,
        "y": y,
        "height": height,
        "color": color,
        "title": _("%(status)s %(period)s: %(value)s users")
        % {"status": label, "period": period_label(point.start, period), "value": f"{value:,}"},
    }


def build_histogram(
    histogram: Mapping[int, int], *, width: int = 360, height: int = 320
) -> dict[str, Any]:
    """An SVG bar chart of ``get_power_users``: users by number of active days, each bar
    with its exact value (``data-days`` / ``data-value``) and share of the active users."""
    left, right, top, bottom = 48, 10, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum, _step = nice_ceiling(max(histogram.values(), default=0))
    total = sum(histogram.values())
    slot = plot_w / max(1, len(histogram))
    bars: list[dict[str, Any]] = []
    for i, (days, users) in enumerate(histogram.items()):
        h = plot_h * users / maximum
        bars.append(
            {
                "days": days,
                "value": users,
                "x": round(left + slot * i + slot * 0.12, 1),
                "width": round(slot * 0.76, 1),
                "y": round(top + plot_h - h, 1),
                "height": round(h, 1),
                "centre": round(left + slot * (i + 0.5), 1),
                "title": _("%(users)s users active on %(days)s of the days (%(share)s%%)")
                % {
                    "users": f"{users:,}",
                    "days": days,
                    "share": round(100 * users / total, 1) if total else 0.0,
                },
            }
        )
    # Every bar up to two weeks; beyond, the first, the weeks (or months) and the last.
    step = 1 if len(bars) <= 14 else (7 if len(bars) <= 70 else 30)
    ticks = {1, len(bars), *range(step, len(bars) + 1, step)}
    return {
        **_frame(width, height, left, right, top, bottom),
        "bars": bars,
        "total": total,
        "y_ticks": _axis(maximum, (top + plot_h, top), lambda v: f"{v:,.0f}"),
        "x_ticks": [{"x": b["centre"], "label": b["days"]} for b in bars if b["days"] in ticks],
    }


# -- registration ---------------------------------------------------------------------


def register_activity_admin(site: AdminSite) -> None:
    """Register the activity tables and the dashboard on ``site``."""
    site.register(UserActivity, UserActivityAdmin)
    site.register(ActivityDay, ActivityDayAdmin)
    site.register(ActivityDashboard, ActivityDashboardAdmin)


register_activity_admin(admin.site)
