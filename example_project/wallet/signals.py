"""Logins leave a row in ``wallet.Login``: one of the app's own activity sources."""

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from wallet.models import Login


@receiver(user_logged_in, dispatch_uid="wallet_record_login")
def record_login(sender: Any, user: Any, **kwargs: Any) -> None:
    Login.objects.create(user=user)
