"""Logins and logouts through any path (admin, session views, ``strawberry_django.auth``,
JWT libraries that send the signals) count as activity.

``user_logged_out`` carries the user who logged out, so a ``logout`` mutation counts for
them even though ``request.user`` is anonymous afterwards.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from strawberry_activity.tracking import track_quietly


@receiver(user_logged_in, dispatch_uid="strawberry_activity_login")
def record_login(sender: Any, user: Any = None, **kwargs: Any) -> None:
    track_quietly(user)


@receiver(user_logged_out, dispatch_uid="strawberry_activity_logout")
def record_logout(sender: Any, user: Any = None, **kwargs: Any) -> None:
    track_quietly(user)
