"""strawberry-activity: DAU / WAU / MAU for Django + Strawberry, measured in mutations.

Set-up::

    INSTALLED_APPS = [..., "strawberry_activity"]
    schema = strawberry.Schema(query=Query, mutation=Mutation,
                               extensions=[ActivityTrackingExtension])
    # python manage.py migrate
"""

from __future__ import annotations

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

__version__ = "0.1.0"
