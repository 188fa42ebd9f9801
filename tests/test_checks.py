"""STRAWBERRY_ACTIVITY is validated by system checks, with clear messages (SPEC §5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from strawberry_activity.checks import check_settings


def errors_for(value: Any) -> list[str]:
    with override_settings(STRAWBERRY_ACTIVITY=value):
        return [f"{m.id}: {m.msg}" for m in check_settings()]


def test_defaults_are_valid() -> None:
    assert errors_for({}) == []


def test_a_full_valid_configuration() -> None:
    assert (
        errors_for(
            {
                "COOLDOWN": 60,
                "COOLDOWN_MAXSIZE": 10,
                "CACHE_ALIAS": "shared",
                "BACKEND": "strawberry_activity.backends.memory.MemoryBackend",
                "TRACK_OPERATIONS": ["mutation", "query"],
                "TRACK_FAILED": False,
                "EXCLUDE": "tests.hooks.is_staff",
                "GET_USER": "tests.hooks.user_from_header",
                "MUTATION_KINDS": {"sendMoney": "transaction"},
                "METRICS_PERMISSION": "strawberry_activity.permissions.IsSuperuser",
                "METRICS_CACHE_SECONDS": 30,
                "METRICS_DATABASE": "replica",
                "ACTIVITY_SOURCES": [
                    {
                        "model": "testapp.Transfer",
                        "user_field": "sender",
                        "timestamp_field": "created_at",
                    },
                ],
                "DAY_TIMEZONE": "America/Bogota",
                "MAX_DAYS": 400,
                "MAX_CLOCK_SKEW": 60,
                "DB_TIMEOUT": 0.25,
            }
        )
        == []
    )


def test_user_field_on_the_custom_user_is_valid() -> None:
    assert errors_for({"USER_FIELD": "last_activity_at"}) == []


BAD = [
    ("NOT_A_SETTING", 1, "E001", "is not a setting"),
    ("COOLDOWN", -1, "E002", "seconds >= 0"),
    ("COOLDOWN", "300", "E002", "seconds >= 0"),
    ("COOLDOWN_MAXSIZE", 0, "E003", "integer >= 1"),
    ("METRICS_CACHE_SECONDS", None, "E004", "seconds >= 0"),
    ("MAX_DAYS", 7, "E005", "integer >= 30"),
    ("MAX_CLOCK_SKEW", -5, "E006", "seconds >= 0"),
    ("TRACK_FAILED", "yes", "E007", "True or False"),
    ("DB_TIMEOUT", 0, "E020", "seconds > 0 or None"),
    ("DB_TIMEOUT", "100ms", "E020", "seconds > 0 or None"),
    ("BACKEND", "no.such.Backend", "E008", "cannot import"),
    ("BACKEND", "strawberry_activity.conf.ActivitySettings", "E008", "BaseBackend"),
    ("USER_FIELD", "no_such_field", "E009", "has no field"),
    ("USER_FIELD", "username", "E009", "nullable DateTimeField"),
    ("CACHE_ALIAS", "nope", "E010", "settings.CACHES"),
    ("METRICS_DATABASE", "nope", "E011", "settings.DATABASES"),
    ("TRACK_OPERATIONS", "mutation", "E012", "list or tuple"),
    ("TRACK_OPERATIONS", ["mutations"], "E012", "unsupported operation types"),
    ("TRACK_OPERATIONS", ["subscription"], "E012", "subscriptions are never activity"),
    ("MUTATION_KINDS", ["sendMoney"], "E013", "must be a dict"),
    ("MUTATION_KINDS", {"sendMoney": ""}, "E013", "printable characters"),
    ("DAY_TIMEZONE", "Mars/Olympus", "E014", "not a known time zone"),
    ("ACTIVITY_SOURCES", {"model": "x"}, "E015", "list of dicts"),
    (
        "ACTIVITY_SOURCES",
        [{"model": "testapp.Nope", "user_field": "a", "timestamp_field": "b"}],
        "E015",
        "no model",
    ),
    (
        "ACTIVITY_SOURCES",
        [{"model": "testapp.Transfer", "user_field": "amount", "timestamp_field": "created_at"}],
        "E015",
        "not a foreign key",
    ),
    (
        "ACTIVITY_SOURCES",
        [{"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "amount"}],
        "E015",
        "not a DateTimeField",
    ),
    ("ACTIVITY_SOURCES", [{"model": "testapp.Transfer"}], "E015", "exactly the keys"),
    ("EXCLUDE", "tests.hooks.nope", "E017", "cannot import"),
    ("GET_USER", 42, "E018", "dotted import path"),
    ("METRICS_PERMISSION", "tests.hooks.MISSING", "E019", "cannot import"),
]


@pytest.mark.parametrize(("name", "value", "code", "message"), BAD)
def test_bad_value_is_a_clear_error(name: str, value: Any, code: str, message: str) -> None:
    errors = errors_for({name: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"strawberry_activity.{code}: STRAWBERRY_ACTIVITY[{name!r}]")
    assert message in errors[0]


def test_not_a_dict() -> None:
    with override_settings(STRAWBERRY_ACTIVITY=["COOLDOWN", 3]):
        assert [m.id for m in check_settings()] == ["strawberry_activity.E000"]


def test_use_tz_is_required() -> None:
    with override_settings(USE_TZ=False):
        assert "strawberry_activity.E016" in [m.id for m in check_settings()]


def test_manage_py_check_fails_on_a_bad_setting() -> None:
    with (
        override_settings(STRAWBERRY_ACTIVITY={"COOLDOWN": "soon"}),
        pytest.raises(SystemCheckError, match=r"STRAWBERRY_ACTIVITY\['COOLDOWN'\]"),
    ):
        call_command("check")
