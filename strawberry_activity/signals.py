"""Logins and logouts through any path count as activity.

- A save of ``last_login`` alone (``save(update_fields=[..."last_login"...])``) is a login:
  Django's ``update_last_login`` (which ``login()`` runs), and the token logins that call
  it without ``login()``: gqlauth's ``tokenAuth``, simplejwt with ``UPDATE_LAST_LOGIN``.
- ``user_logged_in`` covers the logins that save no ``last_login`` (a user model without the
  field, or a project that disconnected ``update_last_login``).
- ``user_logged_out`` carries the user who logged out, so a ``logout`` mutation counts for
  them even though ``request.user`` is anonymous afterwards.

And a deleted user takes their ledger rows along (``CASCADE``): ``pre_delete`` tells the
backend first, in the deletion's transaction, so that no rollup keeps counting them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.tracking import track_quietly

#: ``update_last_login`` sets ``last_login`` to now just before ``user_logged_in`` reaches
#: us; a ``last_login`` this fresh means that save has already counted the login.
_JUST_NOW = timedelta(seconds=2)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="strawberry_activity_last_login")
def record_last_login(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields and "last_login" in update_fields:
        track_quietly(instance)


@receiver(user_logged_in, dispatch_uid="strawberry_activity_login")
def record_login(sender: Any, user: Any = None, **kwargs: Any) -> None:
    last_login = getattr(user, "last_login", None)
    if (
        isinstance(last_login, datetime)
        and timezone.is_aware(last_login) == settings.USE_TZ
        and abs(timezone.now() - last_login) < _JUST_NOW
    ):
        return  # counted by the last_login save: one login, one write
    track_quietly(user)


@receiver(user_logged_out, dispatch_uid="strawberry_activity_logout")
def record_logout(sender: Any, user: Any = None, **kwargs: Any) -> None:
    track_quietly(user)


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="strawberry_activity_delete")
def forget_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    get_backend().forget_user(instance.pk)
