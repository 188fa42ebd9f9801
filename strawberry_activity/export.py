"""What the monitoring exports share: the metric names and the numbers behind them.

``strawberry_activity.prometheus`` and ``strawberry_activity.opentelemetry`` serve the same
series under the same names; this module says which, and computes them with
``get_activity_metrics`` (so ``METRICS_CACHE_SECONDS`` and ``METRICS_DATABASE`` apply).
It needs neither ``prometheus_client`` nor OpenTelemetry.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACTIVE_USERS",
    "DESCRIPTIONS",
    "METRICS_UP",
    "STICKINESS",
    "USERS_TOTAL",
    "WINDOW_LABELS",
    "activity_numbers",
]

#: ``get_activity_metrics`` key -> the ``window`` label.
WINDOW_LABELS = {"dau": "1d", "wau": "7d", "mau": "30d"}

ACTIVE_USERS = "strawberry_activity_active_users"
USERS_TOTAL = "strawberry_activity_users_total"
STICKINESS = "strawberry_activity_stickiness"
METRICS_UP = "strawberry_activity_metrics_up"

DESCRIPTIONS = {
    ACTIVE_USERS: "Distinct users active in the rolling window (1d: DAU, 7d: WAU, 30d: MAU).",
    USERS_TOTAL: "Users in the user model's default manager.",
    STICKINESS: "DAU / MAU, rounded to 4 places (0 when MAU is 0).",
    METRICS_UP: "1 when the activity metrics were computed for this collection, else 0.",
}


def activity_numbers() -> dict[str, dict[str, Any]]:
    """``{kind: get_activity_metrics(kind=kind)}`` for every exported kind."""
    from strawberry_activity.metrics import activity_kinds, get_activity_metrics

    return {kind: get_activity_metrics(kind=kind) for kind in activity_kinds()}
