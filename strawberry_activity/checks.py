"""System checks for ``STRAWBERRY_ACTIVITY``: a wrong setting fails ``manage.py check`` (and
so ``runserver`` and ``migrate``) with a message that says what to write instead."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from django.utils.module_loading import import_string

from strawberry_activity.conf import DEFAULTS, SETTING_NAME, activity_settings

__all__ = ["check_settings", "check_versions"]

# Subscriptions are never activity (docs/activity.md); the extension tracks when an operation's
# result is ready, which a subscription stream never has.
OPERATION_TYPES = ("query", "mutation")


def _error(name: str, msg: str, number: int, hint: str | None = None) -> Error:
    return Error(
        f"{SETTING_NAME}[{name!r}] {msg}",
        hint=hint,
        obj=SETTING_NAME,
        id=f"strawberry_activity.E{number:03d}",
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _import(name: str, value: Any, number: int) -> tuple[Any, list[CheckMessage]]:
    if not isinstance(value, str):
        return None, [_error(name, f"must be a dotted import path, got {value!r}.", number)]
    try:
        return import_string(value), []
    except ImportError as exc:
        return None, [_error(name, f"cannot import {value!r}: {exc}.", number)]


def _check_callable(name: str, number: int) -> list[CheckMessage]:
    value = activity_settings.raw(name)
    if value is None:
        return []
    target, errors = _import(name, value, number)
    if target is not None and not callable(target):
        errors.append(_error(name, f"{value!r} is not callable.", number))
    return errors


def _check_numbers() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    rules: list[tuple[str, int, Callable[[Any], bool], str]] = [
        ("COOLDOWN", 2, lambda v: _is_number(v) and v >= 0, "a number of seconds >= 0"),
        ("COOLDOWN_MAXSIZE", 3, lambda v: type(v) is int and v >= 1, "an integer >= 1"),
        ("METRICS_CACHE_SECONDS", 4, lambda v: _is_number(v) and v >= 0, "seconds >= 0"),
        ("MAX_DAYS", 5, lambda v: type(v) is int and v >= 30, "an integer >= 30"),
        ("MAX_CLOCK_SKEW", 6, lambda v: _is_number(v) and v >= 0, "seconds >= 0"),
        ("TRACK_FAILED", 7, lambda v: isinstance(v, bool), "True or False"),
        ("DB_TIMEOUT", 20, lambda v: v is None or (_is_number(v) and v > 0), "seconds > 0 or None"),
        ("CACHE_TIMEOUT", 22, lambda v: _is_number(v) and v > 0, "seconds > 0"),
        ("ROLLUPS", 24, lambda v: isinstance(v, bool), "True or False"),
    ]
    for name, number, valid, expected in rules:
        value = activity_settings.raw(name)
        if not valid(value):
            errors.append(_error(name, f"must be {expected}, got {value!r}.", number))
    return errors


def _check_backend() -> list[CheckMessage]:
    from strawberry_activity.backends.base import BaseBackend

    backend, errors = _import("BACKEND", activity_settings.raw("BACKEND"), 8)
    if backend is not None and not (inspect.isclass(backend) and issubclass(backend, BaseBackend)):
        errors.append(_error("BACKEND", "must name a subclass of BaseBackend.", 8))
        backend = None
    user_field = activity_settings.raw("USER_FIELD")
    if user_field is None:
        return errors
    if not isinstance(user_field, str):
        return [*errors, _error("USER_FIELD", f"must be a field name or None: {user_field!r}", 9)]
    if backend is not None and not backend.supports_user_field:
        errors.append(_error("USER_FIELD", f"is not supported by {backend.__name__}.", 9))
    user_model = get_user_model()
    try:
        field = user_model._meta.get_field(user_field)
    except FieldDoesNotExist:
        return [
            *errors,
            _error(
                "USER_FIELD",
                f"{user_model._meta.label} has no field {user_field!r}.",
                9,
                hint=f"Add `{user_field} = models.DateTimeField(null=True, db_index=True)`.",
            ),
        ]
    if not isinstance(field, models.DateTimeField) or not field.null:
        errors.append(_error("USER_FIELD", f"{user_field!r} must be a nullable DateTimeField.", 9))
    elif not (getattr(field, "db_index", False) or field.unique) and not any(
        list(index.fields) == [user_field] for index in user_model._meta.indexes
    ):
        errors.append(
            Warning(
                f"{SETTING_NAME}['USER_FIELD'] {user_field!r} has no index: metrics will scan "
                "the whole user table.",
                hint="Set db_index=True on the field.",
                obj=SETTING_NAME,
                id="strawberry_activity.W001",
            )
        )
    return errors


def _check_cache() -> list[CheckMessage]:
    alias = activity_settings.raw("CACHE_ALIAS")
    if alias is not None and alias not in settings.CACHES:
        return [_error("CACHE_ALIAS", f"{alias!r} is not a key of settings.CACHES.", 10)]
    if alias is not None:
        return _check_cache_bound(alias)
    return []


# Caches in this process: nothing to wait for, nothing to bound.
IN_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def _check_cache_bound(alias: str) -> list[CheckMessage]:
    """CACHE_TIMEOUT bounds Redis (Django's and django-redis); say so for anything else."""
    from strawberry_activity.cooldown import redis_kind

    path = settings.CACHES[alias].get("BACKEND", "")
    try:
        backend = import_string(path)
    except ImportError:
        return []  # Django's own cache checks report it
    if path in IN_PROCESS_CACHES or redis_kind(backend) is not None:
        return []
    return [
        Warning(
            f"{SETTING_NAME}['CACHE_TIMEOUT'] cannot bound calls to {path} (cache "
            f"{alias!r}): until the circuit breaker skips it, a slow or hung cache delays "
            "requests by its own timeouts.",
            hint="Use Redis (django.core.cache.backends.redis.RedisCache or django-redis) "
            "for CACHE_ALIAS, or set short timeouts in the cache's OPTIONS.",
            obj=SETTING_NAME,
            id="strawberry_activity.W003",
        )
    ]


def _check_database() -> list[CheckMessage]:
    alias = activity_settings.raw("METRICS_DATABASE")
    if alias is not None and alias not in connections:
        return [_error("METRICS_DATABASE", f"{alias!r} is not a key of settings.DATABASES.", 11)]
    return []


def _check_prometheus_token() -> list[CheckMessage]:
    value = activity_settings.raw("PROMETHEUS_TOKEN")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        return [_error("PROMETHEUS_TOKEN", "must be a non-empty string or None.", 23)]
    return []


def _check_operations() -> list[CheckMessage]:
    value = activity_settings.raw("TRACK_OPERATIONS")
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        return [_error("TRACK_OPERATIONS", f"must be a list or tuple, got {value!r}.", 12)]
    unknown = [v for v in value if v not in OPERATION_TYPES]
    if unknown:
        why = " (subscriptions are never activity)" if "subscription" in unknown else ""
        return [
            _error(
                "TRACK_OPERATIONS",
                f"unsupported operation types {unknown!r}{why}; "
                f"use {' and/or '.join(OPERATION_TYPES)}.",
                12,
            )
        ]
    return []


def _check_kinds() -> list[CheckMessage]:
    from strawberry_activity.kinds import validate_kind

    value = activity_settings.raw("MUTATION_KINDS")
    if not isinstance(value, dict):
        return [_error("MUTATION_KINDS", f"must be a dict, got {value!r}.", 13)]
    errors: list[CheckMessage] = []
    for field, kind in value.items():
        try:
            if not isinstance(field, str):
                raise TypeError(f"mutation field names must be strings: {field!r}")
            validate_kind(kind)
        except (TypeError, ValueError) as exc:
            errors.append(_error("MUTATION_KINDS", f"{exc}.", 13))
    return errors


def _check_timezone() -> list[CheckMessage]:
    value = activity_settings.raw("DAY_TIMEZONE")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return [_error("DAY_TIMEZONE", f"{value!r} is not a known time zone.", 14)]
    return []


def _check_sources() -> list[CheckMessage]:
    value = activity_settings.raw("ACTIVITY_SOURCES")
    if not isinstance(value, list | tuple):
        return [_error("ACTIVITY_SOURCES", f"must be a list of dicts, got {value!r}.", 15)]
    errors: list[CheckMessage] = []
    keys = {"model", "user_field", "timestamp_field"}
    for i, source in enumerate(value):
        where = f"entry {i}"
        if not isinstance(source, dict) or set(source) != keys:
            errors.append(
                _error(
                    "ACTIVITY_SOURCES", f"{where} must have exactly the keys {sorted(keys)}.", 15
                )
            )
            continue
        try:
            model = apps.get_model(source["model"])
        except (LookupError, ValueError):
            errors.append(_error("ACTIVITY_SOURCES", f"{where}: no model {source['model']!r}.", 15))
            continue
        try:
            user = model._meta.get_field(source["user_field"])
            if not user.is_relation or user.related_model is not get_user_model():
                errors.append(
                    _error(
                        "ACTIVITY_SOURCES",
                        f"{where}: {source['user_field']!r} is not a foreign key to the user.",
                        15,
                    )
                )
            stamp = model._meta.get_field(source["timestamp_field"])
            if not isinstance(stamp, models.DateTimeField):
                errors.append(
                    _error(
                        "ACTIVITY_SOURCES",
                        f"{where}: {source['timestamp_field']!r} is not a DateTimeField.",
                        15,
                    )
                )
        except FieldDoesNotExist as exc:
            errors.append(_error("ACTIVITY_SOURCES", f"{where}: {exc}.", 15))
    return errors


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate every ``STRAWBERRY_ACTIVITY`` key."""
    raw = getattr(settings, SETTING_NAME, {})
    if not isinstance(raw, dict):
        return [
            Error(
                f"{SETTING_NAME} must be a dict, got {type(raw).__name__}.",
                obj=SETTING_NAME,
                id="strawberry_activity.E000",
            )
        ]
    errors: list[CheckMessage] = [
        _error(
            name, "is not a setting of strawberry-activity.", 1, hint=f"Known: {sorted(DEFAULTS)}"
        )
        for name in raw
        if name not in DEFAULTS
    ]
    if not settings.USE_TZ:
        errors.append(
            Error(
                "strawberry-activity needs USE_TZ = True: activity windows and calendar days "
                "are computed from aware datetimes.",
                obj="USE_TZ",
                id="strawberry_activity.E016",
            )
        )
    errors += _check_numbers()
    errors += _check_backend()
    errors += _check_cache()
    errors += _check_database()
    errors += _check_prometheus_token()
    errors += _check_operations()
    errors += _check_kinds()
    errors += _check_timezone()
    errors += _check_sources()
    for name, number in (("EXCLUDE", 17), ("GET_USER", 18), ("METRICS_PERMISSION", 19)):
        errors += _check_callable(name, number)
    for alias in connections:
        connection = connections[alias]
        if connection.vendor not in ("postgresql", "sqlite"):
            errors.append(
                Warning(
                    f"strawberry-activity's database backend is tested on PostgreSQL and "
                    f"SQLite; {connection.alias!r} is {connection.vendor}.",
                    id="strawberry_activity.W002",
                )
            )
    return errors


# One id per dependency, below its minimum (docs/versions.md); the floors are in versions.py.
VERSION_CHECK_IDS = {"django": 30, "strawberry-graphql": 31, "strawberry-graphql-django": 32}


@register(Tags.compatibility)
def check_versions(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django, strawberry-graphql and strawberry-graphql-django are at least the releases
    strawberry-activity supports: below one, an Error names the version found and the one
    needed."""
    from strawberry_activity.versions import WHY, too_old

    return [
        Error(
            f"strawberry-activity needs {old.name}>={old.needed}, "
            + (f"found {old.name} {old.found}." if old.found else f"{old.name} is not installed."),
            hint=f"{WHY[old.name]} Upgrade: pip install '{old.name}>={old.needed}'",
            obj=old.name,
            id=f"strawberry_activity.E{VERSION_CHECK_IDS[old.name]:03d}",
        )
        for old in too_old()
    ]
