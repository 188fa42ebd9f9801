"""A third activity source, beside the test app's ``Transfer`` and ``Message``: the seeds'
"old method" unions three source tables. Created by this app's own migration."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Trade(models.Model):
    trader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.trader_id} traded"
