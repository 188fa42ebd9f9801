"""Who may read the metrics. ``METRICS_PERMISSION`` names a Strawberry permission class;
the default lets staff users in and nobody else."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

__all__ = ["IsStaff", "IsSuperuser", "request_user"]


def request_user(info: Info) -> Any:
    """The user of the request behind ``info``, or None."""
    context = info.context
    request = getattr(context, "request", None)
    if request is None and isinstance(context, dict):
        request = context.get("request")
    return getattr(request, "user", None)


class IsStaff(BasePermission):
    """Active staff users only.

    >>> STRAWBERRY_ACTIVITY = {"METRICS_PERMISSION": "strawberry_activity.permissions.IsStaff"}
    """

    message = "You do not have permission to view activity metrics."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = request_user(info)
        return bool(
            user is not None
            and getattr(user, "is_authenticated", False)
            and getattr(user, "is_active", False)
            and getattr(user, "is_staff", False)
        )


class IsSuperuser(IsStaff):
    """Active superusers only."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = request_user(info)
        return super().has_permission(source, info, **kwargs) and bool(
            getattr(user, "is_superuser", False)
        )
