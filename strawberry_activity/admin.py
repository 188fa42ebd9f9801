"""The admin: the activity tables (read-only) and a staff dashboard of the metrics.

With ``django.contrib.admin`` installed, both models are registered on ``admin.site`` and
the admin index gets a "Dashboard" row in this app's section, linking to::

    /admin/strawberry_activity/useractivity/dashboard/     (URL name:
                                                         "admin:strawberry_activity_dashboard")

The dashboard shows DAU / WAU / MAU, their percentages and stickiness now, and a 90-day
chart (server-side SVG: no JavaScript, no network), for the default kind or any other.
Every number comes from the metrics API (``get_activity_metrics``,
``get_activity_series``, ``get_stickiness_series``): the admin computes nothing itself.

On a custom ``AdminSite``::

    from strawberry_activity.admin import register_activity_admin

    register_activity_admin(my_site)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from math import ceil, log10
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from strawberry_activity.conf import activity_settings
from strawberry_activity.metrics import (
    get_activity_metrics,
    get_activity_series,
    get_stickiness_series,
)
from strawberry_activity.models import DEFAULT_KIND, ActivityDay, UserActivity

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as StrOrPromise

    UserActivityAdminBase = admin.ModelAdmin[UserActivity]
    ActivityDayAdminBase = admin.ModelAdmin[ActivityDay]
else:
    UserActivityAdminBase = ActivityDayAdminBase = admin.ModelAdmin

__all__ = [
    "ActivityDayAdmin",
    "UserActivityAdmin",
    "build_chart",
    "register_activity_admin",
]

#: Days shown by the dashboard's trend chart.
CHART_DAYS = 90
#: Colour of each line (the same in light and dark themes).
COLORS = {"dau": "#e4572e", "wau": "#3a8fb7", "mau": "#205067", "stickiness": "#5b8e3e"}
LABELS = {"dau": "DAU", "wau": "WAU", "mau": "MAU", "stickiness": "Stickiness (DAU / MAU)"}


def local_today() -> date:
    """Today in ``DAY_TIMEZONE``: the last day of the ledger's calendar."""
    return timezone.now().astimezone(ZoneInfo(activity_settings.DAY_TIMEZONE)).date()


# -- list filters ---------------------------------------------------------------------

RECENCY = (("1", _("Last 24 hours")), ("7", _("Last 7 days")), ("30", _("Last 30 days")))


class LastActivityFilter(admin.SimpleListFilter):
    """Rolling windows, as DAU / WAU / MAU count them, and everything older."""

    title = _("last activity")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[Any, StrOrPromise]]:
        return (*RECENCY, ("older", _("Older than 30 days")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value is None:
            return queryset
        since = timezone.now() - timedelta(days=30 if value == "older" else int(value))
        if value == "older":
            return queryset.filter(last_activity_at__lt=since)
        return queryset.filter(last_activity_at__gte=since)


class DayFilter(admin.SimpleListFilter):
    """Calendar days of the ledger (in ``DAY_TIMEZONE``): today, the last 7 or 30 days."""

    title = _("day")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Sequence[tuple[Any, StrOrPromise]]:
        return (
            ("1", _("Today")),
            ("7", _("Last 7 days")),
            ("30", _("Last 30 days")),
            ("older", _("Older than 30 days")),
        )

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value is None:
            return queryset
        first = local_today() - timedelta(days=(30 if value == "older" else int(value)) - 1)
        if value == "older":
            return queryset.filter(day__lt=first)
        return queryset.filter(day__gte=first)


# -- model admins ---------------------------------------------------------------------


class ReadOnlyMixin:
    """Activity is written by ``touch_last_activity`` only: the admin just looks."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    """The last activity of each user and kind; also serves the dashboard."""

    list_display = ["user", "kind", "last_activity_at"]
    list_filter = [LastActivityFilter, "kind"]
    list_select_related = ["user"]
    ordering = ["-last_activity_at"]
    # Exact counts of a large table on every page load are a full scan.
    show_full_result_count = False
    change_list_template = "admin/strawberry_activity/change_list.html"

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return user_search_fields()

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs: "<path:object_id>/" would swallow "dashboard/".
        dashboard = path(
            "dashboard/",
            self.admin_site.admin_view(self.dashboard_view),
            name="strawberry_activity_dashboard",
        )
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Staff only (``admin_view`` sends others to the login page), and only for users
        who may view the activity table."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        kinds = available_kinds()
        kind = request.GET.get("kind", DEFAULT_KIND)
        if kind not in kinds:
            raise Http404(f"No activity of kind {kind!r}")
        end = local_today()
        start = end - timedelta(days=CHART_DAYS - 1)
        metrics = get_activity_metrics(kind=kind)
        series = {
            name: get_activity_series(name, start, end, kind=kind) for name in ("mau", "wau", "dau")
        }
        context = {
            **self.admin_site.each_context(request),
            "title": _("Activity dashboard"),
            # The chart wants the width; the sidebar would also mark "User activity" current.
            "is_nav_sidebar_enabled": False,
            "opts": self.model._meta,
            "kinds": kinds,
            "kind": kind,
            "metrics": metrics,
            "cards": cards(metrics),
            "chart": build_chart(series),
            "stickiness_chart": build_chart(
                {"stickiness": get_stickiness_series(start, end, kind=kind)},
                height=170,
                percent=True,
            ),
            "start": start,
            "end": end,
        }
        return TemplateResponse(request, "admin/strawberry_activity/dashboard.html", context)


class ActivityDayAdmin(ReadOnlyMixin, ActivityDayAdminBase):
    """The daily ledger: one row per user, kind and calendar day."""

    list_display = ["day", "user", "kind"]
    list_filter = [DayFilter, "kind"]
    list_select_related = ["user"]
    ordering = ["-day"]
    show_full_result_count = False
    change_list_template = "admin/strawberry_activity/change_list.html"

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return user_search_fields()


def available_kinds() -> list[str]:
    """The default kind, the kinds of ``MUTATION_KINDS`` and any kind already stored."""
    stored = UserActivity.objects.values_list("kind", flat=True).distinct()
    configured = activity_settings.MUTATION_KINDS.values()
    return [DEFAULT_KIND, *sorted({*configured, *stored} - {DEFAULT_KIND})]


# -- the dashboard's numbers and chart ------------------------------------------------


def cards(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary cards, straight from ``get_activity_metrics``."""
    total = metrics["total_users"]
    result = [
        {
            "metric": name,
            "label": LABELS[name],
            "value": metrics[name],
            "display": f"{metrics[name]:,}",
            "note": _("%(percent)s%% of %(total)s users")
            % {"percent": metrics[f"{name}_percentage"], "total": f"{total:,}"},
        }
        for name in ("dau", "wau", "mau")
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
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "y_ticks": [{"y": y(t), "label": label(t)} for t in ticks],
        # A label on each Monday (weeks read naturally), thinned to fit.
        "x_ticks": [
            {"x": x(i), "label": f"{day:%b} {day.day}"}
            for i, day in enumerate(days)
            if day.weekday() == 0 and (len(days) <= 31 or (day.toordinal() // 7) % 2 == 0)
        ],
        "lines": lines,
    }


# -- registration ---------------------------------------------------------------------


def dashboard_entry(site: AdminSite) -> dict[str, Any]:
    """The row the dashboard gets in this app's section of the admin index."""
    return {
        "name": _("Dashboard"),
        "object_name": "Dashboard",
        "admin_url": reverse(f"{site.name}:strawberry_activity_dashboard"),
        "add_url": None,
        "view_only": True,
        "perms": {"add": False, "change": False, "delete": False, "view": True},
    }


def register_activity_admin(site: AdminSite) -> None:
    """Register the activity tables and the dashboard (with its index row) on ``site``."""
    site.register(UserActivity, UserActivityAdmin)
    site.register(ActivityDay, ActivityDayAdmin)
    original = site.get_app_list

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[Any]:
        # The admin lists models only; the dashboard is a view, so it joins the app's
        # section here, for users who may see the activity table (and thus the view).
        app_list = original(request, app_label)
        for app in app_list:
            names = {m.get("object_name") for m in app["models"]}
            if app["app_label"] == UserActivity._meta.app_label and "UserActivity" in names:
                app["models"].insert(0, dashboard_entry(site))
        return app_list

    site.get_app_list = get_app_list  # type: ignore[method-assign]


register_activity_admin(admin.site)
