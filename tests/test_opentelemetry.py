"""strawberry_activity.opentelemetry (SPEC §11): the same numbers as observable instruments,
read through the SDK's ``InMemoryMetricReader``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from strawberry_activity import counters, get_activity_metrics, touch_last_activity
from strawberry_activity.opentelemetry import register
from tests.testapp.models import User

WINDOWS = {"1d": "dau", "7d": "wau", "30d": "mau"}
SETTINGS = {"MUTATION_KINDS": {"sendMoney": "transaction"}}


def read(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], Any]]:
    """``{instrument name: {sorted attributes: value}}`` of one collection."""
    result: dict[str, dict[tuple[tuple[str, Any], ...], Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "strawberry_activity"
            for metric in scope.metrics:
                points = result.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    points[tuple(sorted((point.attributes or {}).items()))] = point.value
    return result


def numbers_of(seen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for attributes, value in seen["strawberry_activity_active_users"].items():
        labels = dict(attributes)
        result.setdefault(labels["kind"], {})[WINDOWS[labels["window"]]] = value
    for attributes, value in seen["strawberry_activity_stickiness"].items():
        result[dict(attributes)["kind"]]["stickiness"] = value
    (total,) = seen["strawberry_activity_users_total"].values()
    for numbers in result.values():
        numbers["total_users"] = total
    return result


def expected(kinds: list[str]) -> dict[str, dict[str, Any]]:
    keys = ("dau", "wau", "mau", "stickiness", "total_users")
    return {kind: {k: get_activity_metrics(kind=kind)[k] for k in keys} for kind in kinds}


@pytest.fixture
def reader() -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register(provider)
    yield reader
    provider.shutdown()


def population() -> None:
    now = timezone.now()
    for i, hours in enumerate([1, 20, 50, 150, 300, 1000]):
        user = User.objects.create_user(f"user{i}")
        touch_last_activity(user, ts=now - timedelta(hours=hours), force=True)
        if i % 2:
            touch_last_activity(
                user, ts=now - timedelta(hours=hours), force=True, kind="transaction"
            )
    touch_last_activity(User.objects.get(username="user0"), force=True, kind="export")


@pytest.mark.django_db
@override_settings(STRAWBERRY_ACTIVITY=SETTINGS)
def test_the_gauges_are_get_activity_metrics_for_every_kind(reader: InMemoryMetricReader) -> None:
    population()
    seen = read(reader)
    assert numbers_of(seen) == expected(["default", "export", "transaction"])
    assert seen["strawberry_activity_metrics_up"] == {(): 1}

    # Each collection computes afresh.
    touch_last_activity(User.objects.get(username="user5"), force=True)
    again = read(reader)
    assert numbers_of(again) == expected(["default", "export", "transaction"])
    assert numbers_of(again)["default"]["dau"] == numbers_of(seen)["default"]["dau"] + 1


@pytest.mark.django_db
@override_settings(STRAWBERRY_ACTIVITY=SETTINGS)
def test_one_computation_per_collection(
    reader: InMemoryMetricReader, django_assert_num_queries: Any
) -> None:
    population()
    # The kinds (one query), then one query per kind: the four gauges share them.
    with django_assert_num_queries(1 + 3):
        read(reader)


@pytest.mark.django_db
@override_settings(STRAWBERRY_ACTIVITY=SETTINGS)
def test_a_failure_to_compute_is_metrics_up_0(
    reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    with mock.patch(
        "strawberry_activity.metrics.get_activity_metrics", side_effect=RuntimeError("db down")
    ):
        seen = read(reader)
    assert seen["strawberry_activity_metrics_up"] == {(): 0}
    assert not seen.get("strawberry_activity_active_users")
    assert "could not compute the activity metrics for OpenTelemetry" in caplog.text
    assert read(reader)["strawberry_activity_metrics_up"] == {(): 1}


def test_the_counters_are_this_process_totals(reader: InMemoryMetricReader) -> None:
    counters.reset()
    counters.count_write("default", True)
    counters.count_write("default", True)
    counters.count_cooldown_hit("shared")
    counters.count_failure("reach the cooldown cache", TimeoutError())
    with mock.patch("strawberry_activity.opentelemetry.activity_numbers", return_value={}):
        seen = read(reader)
    assert seen["strawberry_activity_writes"] == {(("kind", "default"),): 2}
    assert seen["strawberry_activity_cooldown_hits"] == {(("tier", "shared"),): 1}
    assert seen["strawberry_activity_tracking_failures"] == {
        (("cause", "reach the cooldown cache"), ("exception", "TimeoutError")): 1
    }
