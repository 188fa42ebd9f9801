from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StrawberryActivityConfig(AppConfig):
    name = "strawberry_activity"
    label = "strawberry_activity"
    verbose_name = _("User activity")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the login / logout receivers and register the system checks.
        from strawberry_activity import checks, signals  # noqa: F401
