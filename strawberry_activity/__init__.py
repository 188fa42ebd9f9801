"""strawberry-activity: DAU / WAU / MAU for Django + Strawberry, measured in mutations.

Set-up::

    INSTALLED_APPS = [..., "strawberry_activity"]
    schema = strawberry.Schema(query=Query, mutation=Mutation,
                               extensions=[ActivityTrackingExtension])
    # python manage.py migrate

The names below are imported lazily: Django imports this package while it loads apps,
before models can be imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strawberry_activity.extension import ActivityTrackingExtension
    from strawberry_activity.metrics import (
        LifecyclePoint,
        RetentionCohort,
        aget_activity_metrics,
        aget_lifecycle,
        aget_power_users,
        aget_retention,
        get_active_users,
        get_activity_metrics,
        get_activity_series,
        get_lifecycle,
        get_power_users,
        get_retention,
    )
    from strawberry_activity.tracking import atouch_last_activity, touch_last_activity

__all__ = [
    "ActivityTrackingExtension",
    "LifecyclePoint",
    "RetentionCohort",
    "aget_activity_metrics",
    "aget_lifecycle",
    "aget_power_users",
    "aget_retention",
    "atouch_last_activity",
    "get_active_users",
    "get_activity_metrics",
    "get_activity_series",
    "get_lifecycle",
    "get_power_users",
    "get_retention",
    "touch_last_activity",
]

__version__ = "0.1.0.dev0"

_HOMES = {
    "ActivityTrackingExtension": "strawberry_activity.extension",
    "touch_last_activity": "strawberry_activity.tracking",
    "atouch_last_activity": "strawberry_activity.tracking",
    "get_active_users": "strawberry_activity.metrics",
    "get_activity_metrics": "strawberry_activity.metrics",
    "aget_activity_metrics": "strawberry_activity.metrics",
    "get_activity_series": "strawberry_activity.metrics",
    "get_retention": "strawberry_activity.metrics",
    "aget_retention": "strawberry_activity.metrics",
    "get_lifecycle": "strawberry_activity.metrics",
    "aget_lifecycle": "strawberry_activity.metrics",
    "get_power_users": "strawberry_activity.metrics",
    "aget_power_users": "strawberry_activity.metrics",
    "RetentionCohort": "strawberry_activity.metrics",
    "LifecyclePoint": "strawberry_activity.metrics",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'strawberry_activity' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
