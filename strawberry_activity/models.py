"""Storage of the default ``db`` backend.

``UserActivity`` holds the latest activity of each user, one row per user and kind: the
rolling metrics (DAU / WAU / MAU *now*) read it. ``ActivityDay`` is the daily ledger, one row
per user, kind and calendar day: the history (a series of past days) reads it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from strawberry_activity.kinds import DEFAULT_KIND, KIND_MAX_LENGTH, validate_kind

__all__ = ["DEFAULT_KIND", "ActivityDay", "UserActivity", "validate_kind"]


class UserActivity(models.Model):
    """The last time a user was active, per activity kind."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="strawberry_activities",
        verbose_name=_("user"),
        # The unique constraint's index starts with user: a second one would only cost
        # every insert an extra index update.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=KIND_MAX_LENGTH, default=DEFAULT_KIND)
    last_activity_at = models.DateTimeField(_("last activity"))

    class Meta:
        verbose_name = _("user activity")
        verbose_name_plural = _("user activity")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="strawberry_activity_user_kind"),
        ]
        indexes = [
            # Rolling metrics: a range scan over one kind's timestamps.
            models.Index(fields=["kind", "last_activity_at"], name="strawberry_activity_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} @ {self.last_activity_at:%Y-%m-%d %H:%M}"


class ActivityDay(models.Model):
    """The ledger: a user was active on this calendar day (in ``DAY_TIMEZONE``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="strawberry_activity_days",
        verbose_name=_("user"),
        # The unique constraint's index starts with user: a second one would only cost
        # every insert an extra index update.
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=KIND_MAX_LENGTH, default=DEFAULT_KIND)
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("activity day")
        verbose_name_plural = _("activity days")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "day"], name="strawberry_activity_user_kind_day"
            ),
        ]
        indexes = [
            # Series: all rows of one kind in a date range, per user in day order.
            models.Index(fields=["kind", "day", "user"], name="strawberry_activity_day"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.day:%Y-%m-%d}"
