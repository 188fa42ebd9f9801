"""Settings of the benchmarks: a dedicated PostgreSQL database, never a test one.

``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/bench_strawberry_activity``)
names the database that ``python -m benchmarks`` creates, fills and drops;
``SCALE_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/bench_scale``) the one
``--only scale`` generates once and keeps.
"""

from __future__ import annotations

import os

import dj_database_url

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_strawberry_activity"
)

SECRET_KEY = "benchmarks-only"
AUTH_USER_MODEL = "testapp.User"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "strawberry_django",
    "strawberry_activity",
    "tests.testapp",
    "benchmarks",
]

# ``--only scale`` (benchmarks/scale.py) runs alone, on a database of its own that it keeps.
SCALE_DATABASE_URL = os.environ.get(
    "SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_scale"
)

DATABASES = {
    "default": dj_database_url.parse(
        SCALE_DATABASE_URL if os.environ.get("BENCHMARKS_SCALE") == "1" else BENCH_DATABASE_URL
    )
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SOURCES = [
    {"model": "testapp.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
    {"model": "testapp.Message", "user_field": "author", "timestamp_field": "created_at"},
    {"model": "benchmarks.Trade", "user_field": "trader", "timestamp_field": "created_at"},
]
# A day of cooldown: the hot path benchmarks keep one user in cooldown for the whole run.
STRAWBERRY_ACTIVITY: dict[str, object] = {"ACTIVITY_SOURCES": SOURCES, "COOLDOWN": 86400}
