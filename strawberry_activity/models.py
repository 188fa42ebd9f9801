"""Storage of the default ``db`` backend.

``UserActivity`` holds the latest activity of each user, one row per user and kind: the
rolling metrics (DAU / WAU / MAU *now*) read it. ``ActivityDay`` is the daily ledger, one row
per user, kind and calendar day: the history (a series of past days) reads it.
``ActivityRollup`` keeps the numbers of days that are over, so that the history costs
O(days) rather than O(ledger rows); ``ActivityRollupVersion`` tells a rollup computed from
an older ledger from a current one (docs/scale.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from strawberry_activity.kinds import DEFAULT_KIND, KIND_MAX_LENGTH, validate_kind

__all__ = [
    "DEFAULT_KIND",
    "ActivityDashboard",
    "ActivityDay",
    "ActivityRollup",
    "ActivityRollupVersion",
    "UserActivity",
    "validate_kind",
]


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


class ActivityDashboard(UserActivity):
    """The admin's activity dashboard: a proxy of ``UserActivity`` (no table of its own),
    so that the admin index lists the dashboard in this app's section as it lists any model.

    It has no permissions of its own: who may view user activity may view the dashboard.
    """

    class Meta:
        proxy = True
        verbose_name = _("activity dashboard")
        verbose_name_plural = _("activity dashboard")
        default_permissions = ()


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


class ActivityRollup(models.Model):
    """One number of the history, kept once the ledger days it is computed from are over.

    ``metric`` names what it is (``"dau"``, ``"lifecycle:week"``, ``"retention:month"``,
    ``"power:28"``...), ``day`` the day or period it is for and ``key`` which number of that
    day (a lifecycle field, a retention offset, a power-users bucket; 0 for a series).
    ``since .. until`` are the ledger days it was computed from (``since`` None: every day
    up to ``until``, as first periods need): a change to a ledger day in that span deletes
    it, in the same transaction. Filled on read and by ``activity_rollup``.
    """

    kind = models.CharField(_("kind"), max_length=KIND_MAX_LENGTH, default=DEFAULT_KIND)
    metric = models.CharField(_("metric"), max_length=32)
    day = models.DateField(_("day"))
    key = models.PositiveSmallIntegerField(_("key"), default=0)
    value = models.BigIntegerField(_("value"))
    since = models.DateField(_("since"), null=True)
    until = models.DateField(_("until"))

    class Meta:
        verbose_name = _("activity rollup")
        verbose_name_plural = _("activity rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "metric", "day", "key"], name="strawberry_activity_rollup"
            ),
        ]
        indexes = [
            # Invalidation: the rollups of one kind computed from a ledger day on or after x.
            models.Index(fields=["kind", "until"], name="strawberry_activity_until"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.metric} {self.day:%Y-%m-%d}[{self.key}] = {self.value}"


class ActivityRollupVersion(models.Model):
    """How many times past ledger days changed (late writes, backfill, prune, deleted
    users): one row, ``id = 1``.

    A rollup computed from a ledger read is stored only if the version that read saw is
    still the current one, under a lock the changes wait for: no rollup outlives its inputs.
    """

    version = models.BigIntegerField(_("version"), default=0)

    class Meta:
        verbose_name = _("activity rollup version")
        verbose_name_plural = _("activity rollup versions")

    def __str__(self) -> str:
        return f"v{self.version}"
