"""What the monitoring exports share: the metric names and the numbers behind them.

``strawberry_activity.prometheus`` and ``strawberry_activity.opentelemetry`` serve the same
series under the same names; this module says which, and computes them with
``get_activity_metrics`` (so ``METRICS_CACHE_SECONDS`` and ``METRICS_DATABASE`` apply).
It needs neither ``prometheus_client`` nor OpenTelemetry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACTIVE_USERS",
    "DESCRIPTIONS",
    "LABEL_NAMES",
    "METRICS_UP",
    "STICKINESS",
    "USERS_TOTAL",
    "WINDOW_LABELS",
    "activity_numbers",
    "samples",
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


#: Each gauge's label names, in the order Prometheus lists them.
LABEL_NAMES: dict[str, tuple[str, ...]] = {
    ACTIVE_USERS: ("window", "kind"),
    USERS_TOTAL: (),
    STICKINESS: ("kind",),
}

#: One of a gauge's samples: its labels and its value.
Sample = tuple[dict[str, str], Any]


def samples(numbers: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Sample]]:
    """The gauges' samples, ``{name: [(labels, value), ...]}``, from ``activity_numbers()``:
    the active users of each window and kind, the stickiness of each kind, and the users in
    total (the same for every kind, so once; none without a kind).

    >>> gauges = samples({"default": {"dau": 2, "wau": 3, "mau": 5, "stickiness": 0.4,
    ...                                "total_users": 9}})
    >>> gauges[ACTIVE_USERS][0], gauges[USERS_TOTAL]
    (({'window': '1d', 'kind': 'default'}, 2), [({}, 9)])
    """
    return {
        ACTIVE_USERS: [
            ({"window": window, "kind": kind}, metrics[key])
            for kind, metrics in numbers.items()
            for key, window in WINDOW_LABELS.items()
        ],
        USERS_TOTAL: [({}, metrics["total_users"]) for metrics in list(numbers.values())[:1]],
        STICKINESS: [({"kind": kind}, metrics["stickiness"]) for kind, metrics in numbers.items()],
    }


def activity_numbers() -> dict[str, dict[str, Any]]:
    """``{kind: get_activity_metrics(kind=kind)}`` for every exported kind."""
    from strawberry_activity.metrics import activity_kinds, get_activity_metrics

    return {kind: get_activity_metrics(kind=kind) for kind in activity_kinds()}
