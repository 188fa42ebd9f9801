"""OpenTelemetry export: DAU / WAU / MAU as observable gauges on a meter provider.

``pip install strawberry-activity[opentelemetry]``, set up a meter provider as usual, then
register the instruments once per process (an ``AppConfig.ready``, or where the provider is
made)::

    from strawberry_activity.opentelemetry import register

    register()                  # on the global meter provider
    register(meter_provider)    # or on this one

The instruments carry the Prometheus export's names, so a dashboard or an alert reads the
same series whichever way the numbers travel::

    strawberry_activity_active_users{window="1d"|"7d"|"30d", kind}   gauge
    strawberry_activity_users_total                                   gauge
    strawberry_activity_stickiness{kind}                              gauge
    strawberry_activity_metrics_up                                    gauge (0: not computed)
    strawberry_activity_writes{kind}                                  counter
    strawberry_activity_cooldown_hits{tier}                           counter
    strawberry_activity_tracking_failures{cause, exception}           counter

The gauges are ``get_activity_metrics(kind=...)`` for every kind (the dashboard's list),
computed once per collection, behind ``METRICS_CACHE_SECONDS`` and on
``METRICS_DATABASE``. The counters are this process's totals (``counters.snapshot()``):
each process exports its own, as OpenTelemetry SDKs do, and the backend sums them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections
from opentelemetry.metrics import (
    CallbackOptions,
    Instrument,
    MeterProvider,
    Observation,
    get_meter_provider,
)

from strawberry_activity import counters
from strawberry_activity.export import (
    ACTIVE_USERS,
    DESCRIPTIONS,
    METRICS_UP,
    STICKINESS,
    USERS_TOTAL,
    activity_numbers,
    samples,
)

__all__ = ["register"]

logger = logging.getLogger("strawberry_activity")

#: A collection's later callbacks reuse the numbers the first one computed, if this fresh.
REUSE_SECONDS = 10.0


def _close_stale_connections() -> None:
    """What Django does around a request, for the exporter's own thread: a connection that
    broke (the database restarted) or outlived ``CONN_MAX_AGE`` is closed, so the next
    collection opens a new one. Never inside a transaction of the caller's."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class _Numbers:
    """The metrics of one collection, shared by the gauges' callbacks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = -REUSE_SECONDS
        self._numbers: dict[str, dict[str, Any]] | None = None

    def compute(self) -> dict[str, dict[str, Any]] | None:
        with self._lock:
            _close_stale_connections()
            try:
                self._numbers = activity_numbers()
            except Exception as exc:
                logger.warning(
                    "strawberry-activity could not compute the activity metrics for "
                    "OpenTelemetry (%s: %s).",
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
                self._numbers = None
            finally:
                _close_stale_connections()
            self._at = time.monotonic()
            return self._numbers

    def get(self) -> dict[str, dict[str, Any]] | None:
        with self._lock:
            if time.monotonic() - self._at < REUSE_SECONDS:
                return self._numbers
        return self.compute()


def _gauge_callbacks(
    numbers: _Numbers,
) -> dict[str, Callable[[CallbackOptions], Iterable[Observation]]]:
    def gauge(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            # The first instrument of a collection computes afresh; the others reuse that.
            computed = numbers.compute() if name == ACTIVE_USERS else numbers.get()
            return [Observation(value, labels) for labels, value in samples(computed or {})[name]]

        return observe

    def up(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(0 if numbers.get() is None else 1)]

    return {
        ACTIVE_USERS: gauge(ACTIVE_USERS),
        USERS_TOTAL: gauge(USERS_TOTAL),
        STICKINESS: gauge(STICKINESS),
        METRICS_UP: up,
    }


def _counter_callback(name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    label_names = counters.COUNTERS[name][1]

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(value, dict(zip(label_names, labels, strict=True)))
            for labels, value in counters.snapshot()[name].items()
        ]

    return observe


def register(meter_provider: MeterProvider | None = None) -> list[Instrument]:
    """Create the observable gauges and counters on ``meter_provider`` (default: the global
    one). Call it once per process and provider."""
    from strawberry_activity import __version__ as version

    provider = meter_provider if meter_provider is not None else get_meter_provider()
    meter = provider.get_meter("strawberry_activity", version)
    numbers = _Numbers()
    instruments: list[Instrument] = []
    for name, callback in _gauge_callbacks(numbers).items():
        # "{user}" is an annotation: an OpenTelemetry-to-Prometheus exporter adds no suffix.
        unit = "{user}" if name in (ACTIVE_USERS, USERS_TOTAL) else ""
        instruments.append(
            meter.create_observable_gauge(
                name, callbacks=[callback], unit=unit, description=DESCRIPTIONS[name]
            )
        )
    for name, (description, _labels) in counters.COUNTERS.items():
        instruments.append(
            meter.create_observable_counter(
                name, callbacks=[_counter_callback(name)], description=description
            )
        )
    return instruments
