"""Counters of what tracking did: writes, cooldown hits, failures by cause.

The write path calls three functions; each is a few hundred nanoseconds and never raises:

* ``count_write(kind, written)``: the guarded write ran; ``written`` False means the
  database guard refused it (another process wrote within ``COOLDOWN``, or a newer time is
  stored): a cooldown hit at the database tier.
* ``count_cooldown_hit(tier)``: the shared gate (``tier="shared"``) said another process
  holds the window.
* ``count_failure(where, exc)``: a tracking failure (``tracking.report_failure``), by cause
  (``where``: "record activity", "reach the cooldown cache") and exception class.

With ``prometheus_client`` installed (``pip install strawberry-activity[prometheus]``) they
are Prometheus ``Counter`` s, multi-process safe when ``PROMETHEUS_MULTIPROC_DIR`` is set
(every worker writes its own file; the scrape sums them)::

    strawberry_activity_writes_total{kind="default"}
    strawberry_activity_cooldown_hits_total{tier="shared"|"database"}
    strawberry_activity_tracking_failures_total{cause="record activity",
                                                exception="OperationalError"}

Without it they only keep this process's totals (``snapshot()``), which
``strawberry_activity.opentelemetry`` exports as observable counters. The hot path (a hit
in the in-process cooldown: no I/O, no lock) is deliberately not counted. No label ever
holds a user id.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = [
    "COUNTERS",
    "count_cooldown_hit",
    "count_failure",
    "count_write",
    "reset",
    "snapshot",
]

#: name (as exported, without Prometheus' ``_total``) -> (description, label names).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "strawberry_activity_writes": (
        "Activity writes that reached the database (one per user and kind per COOLDOWN).",
        ("kind",),
    ),
    "strawberry_activity_cooldown_hits": (
        "Writes skipped because another process holds the user's cooldown window "
        '(tier="shared": the shared cache gate; tier="database": the database guard).',
        ("tier",),
    ),
    "strawberry_activity_tracking_failures": (
        "Tracking failures (the request went on unchanged), by cause and exception class.",
        ("cause", "exception"),
    ),
}

_lock = threading.Lock()
# (counter name, label values) -> this process's total.
_totals: dict[tuple[str, tuple[str, ...]], int] = {}
# (counter name, label values) -> the prometheus_client child, when it is installed.
_children: dict[tuple[str, tuple[str, ...]], Any] = {}

try:
    from prometheus_client import Counter
except ImportError:  # pragma: no cover - the [prometheus] extra is not installed
    _prometheus: dict[str, Any] = {}
else:
    _prometheus = {
        name: Counter(name, description, labelnames=labels)
        for name, (description, labels) in COUNTERS.items()
    }


def _inc(name: str, labels: tuple[str, ...]) -> None:
    key = (name, labels)
    try:
        with _lock:
            _totals[key] = _totals.get(key, 0) + 1
            child = _children.get(key)
            if child is None and name in _prometheus:
                child = _children[key] = _prometheus[name].labels(*labels)
        if child is not None:
            child.inc()
    except Exception:  # pragma: no cover - counting must never break tracking
        pass


def count_write(kind: str, written: bool) -> None:
    """The guarded write for ``kind`` ran: a write, or a refusal by the database guard."""
    if written:
        _inc("strawberry_activity_writes", (kind,))
    else:
        _inc("strawberry_activity_cooldown_hits", ("database",))


def count_cooldown_hit(tier: str) -> None:
    """A write skipped by the cooldown's ``tier`` (``"shared"``)."""
    _inc("strawberry_activity_cooldown_hits", (tier,))


def count_failure(where: str, exc: BaseException) -> None:
    """A tracking failure: ``where`` it happened and the exception's class name."""
    _inc("strawberry_activity_tracking_failures", (where, type(exc).__name__))


def snapshot() -> dict[str, dict[tuple[str, ...], int]]:
    """This process's totals: ``{counter name: {label values: count}}``."""
    result: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in COUNTERS}
    with _lock:
        for (name, labels), value in _totals.items():
            result[name][labels] = value
    return result


def reset() -> None:
    """Forget this process's totals (tests). Prometheus counters never go down."""
    with _lock:
        _totals.clear()
