"""Prometheus export: a Django view serving DAU / WAU / MAU as gauges (docs/monitoring.md).

``pip install strawberry-activity[prometheus]``, then route the view::

    # urls.py
    from strawberry_activity.prometheus import metrics_view

    urlpatterns = [..., path("metrics/activity/", metrics_view)]

    # settings.py
    STRAWBERRY_ACTIVITY = {"PROMETHEUS_TOKEN": os.environ["PROMETHEUS_TOKEN"]}

and scrape it with ``Authorization: Bearer <PROMETHEUS_TOKEN>``. A logged-in user that
``METRICS_PERMISSION`` admits (staff by default) may read it too; anyone else gets 403.

What it serves, for every kind (the default one, the kinds of ``MUTATION_KINDS`` and any
kind already stored: the dashboard's list)::

    strawberry_activity_active_users{window="1d"|"7d"|"30d", kind="default"}
    strawberry_activity_stickiness{kind="default"}
    strawberry_activity_users_total
    strawberry_activity_metrics_up             # 0 when the numbers could not be read

The numbers are ``get_activity_metrics(kind=...)``, computed when the scrape comes (so
``METRICS_CACHE_SECONDS`` and ``METRICS_DATABASE`` apply), in the process that answers it.
Beside them the view serves the process's other metrics: this package's counters
(``strawberry_activity.counters``) and whatever else the project registers. Under a
multi-process server (``PROMETHEUS_MULTIPROC_DIR`` set: gunicorn, uvicorn workers) those
come from every worker's files through ``MultiProcessCollector``, summed; the gauges never
go through those files (they are computed on the spot), so they cannot vanish, as a custom
collector on the default registry does there. The view can replace django-prometheus's
``ExportToDjangoView`` as a project's one ``/metrics``.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import os
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# The package's counters join the default registry (and, multi-process, the files).
from strawberry_activity import counters  # noqa: F401
from strawberry_activity.conf import activity_settings
from strawberry_activity.export import (
    ACTIVE_USERS,
    DESCRIPTIONS,
    LABEL_NAMES,
    METRICS_UP,
    STICKINESS,
    USERS_TOTAL,
    activity_numbers,
    samples,
)

__all__ = [
    "ActivityCollector",
    "build_registry",
    "is_allowed",
    "metrics_view",
    "multiprocess_dir",
]

logger = logging.getLogger("strawberry_activity")

GAUGES = frozenset({ACTIVE_USERS, USERS_TOTAL, STICKINESS, METRICS_UP})


def _families() -> list[GaugeMetricFamily]:
    return [
        GaugeMetricFamily(name, DESCRIPTIONS[name], labels=labels)
        for name, labels in LABEL_NAMES.items()
    ]


def _up(value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(METRICS_UP, DESCRIPTIONS[METRICS_UP], value)


class ActivityCollector(Collector):
    """The activity gauges, computed by ``get_activity_metrics`` at each collection.

    A failure to compute them (the database is down) is logged and exported as
    ``strawberry_activity_metrics_up 0``, without the gauges: the rest of the scrape (the
    tracking failure counters, at such a moment) still gets through.
    """

    def collect(self) -> Iterator[Metric]:
        try:
            numbers = activity_numbers()
        except Exception as exc:
            logger.warning(
                "strawberry-activity could not compute the activity metrics for Prometheus "
                "(%s: %s).",
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            yield _up(0)
            return
        families = _families()
        values = samples(numbers)
        for family in families:
            for labels, value in values[family.name]:
                family.add_metric([labels[name] for name in LABEL_NAMES[family.name]], value)
        yield from (*families, _up(1))

    def describe(self) -> Iterable[Metric]:
        # The names only: registering the collector runs no query.
        return [*_families(), _up(0)]


class _Others(Collector):
    """Every collector of the default registry but these gauges (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        for metric in REGISTRY.collect():
            if metric.name not in GAUGES:
                yield metric


def multiprocess_dir() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` (or its old lower-case name), or None."""
    old = "prometheus_multiproc_dir"  # deprecated by prometheus_client, still honoured
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get(old) or None


def build_registry() -> CollectorRegistry:
    """A registry for one scrape: the activity gauges, plus every worker's metrics summed
    (``MultiProcessCollector``) under a multi-process server, else the default registry's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ActivityCollector())
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Others())
    return registry


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


class _PlainRequestInfo:
    """What a Strawberry permission reads of ``info`` (``info.context.request``, also as
    ``info.context["request"]``), for a plain Django request."""

    def __init__(self, request: HttpRequest) -> None:
        from strawberry.django.context import StrawberryDjangoContext

        self.context = StrawberryDjangoContext(request=request, response=HttpResponse())


def is_allowed(request: HttpRequest) -> bool:
    """A request with ``Authorization: Bearer <PROMETHEUS_TOKEN>``, or from a logged-in user
    that ``METRICS_PERMISSION`` admits."""
    expected = activity_settings.PROMETHEUS_TOKEN
    token = _bearer_token(request)
    if (
        token is not None
        and expected
        and hmac.compare_digest(token.encode(), str(expected).encode())
    ):
        return True
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    try:
        permission = activity_settings.METRICS_PERMISSION()
        allowed = permission.has_permission(None, _PlainRequestInfo(request))
        if inspect.isawaitable(allowed):  # an ``async def has_permission``
            allowed = async_to_sync(_result)(allowed)
    except Exception as exc:
        # A permission written for GraphQL may read more of ``info`` than a plain request has.
        logger.warning(
            "METRICS_PERMISSION failed on a scrape of the metrics view (%s: %s): refused.",
            type(exc).__name__,
            exc,
        )
        return False
    return allowed is True


async def _result(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus scrape endpoint (text format; OpenMetrics when the scraper asks)."""
    if not is_allowed(request):
        return HttpResponseForbidden(
            b"Send Authorization: Bearer <PROMETHEUS_TOKEN>, or log in as a user "
            b"METRICS_PERMISSION admits.\n",
            content_type="text/plain; charset=utf-8",
        )
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(build_registry())
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
