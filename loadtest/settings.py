"""Settings of the servers under load (uvicorn + gunicorn) and of the orchestrator.

PostgreSQL + Redis only: ``LOADTEST_DATABASE_URL`` (a database of its own, created and
dropped by ``python -m loadtest``) and ``LOADTEST_REDIS_URL`` (the shared cooldown gate).
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "loadtest-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "strawberry_django",
    "strawberry_activity",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
# Sessions in a signed cookie: one login works on both servers, and a Redis outage cannot
# log anybody out, so every error seen is the tracking's or the database's.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROOT_URLCONF = "loadtest.urls"

DATABASES = {
    "default": {
        **dj_database_url.parse(
            os.environ.get(
                "LOADTEST_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/loadtest_strawberry_activity",
            )
        ),
        # Persistent connections, as in production: the pg_terminate_backend fault hits them.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/8"),
        # No timeouts of the project's own (redis-py's defaults): the package bounds the
        # gate with CACHE_TIMEOUT whatever is written here (issue 15).
    },
}
STRAWBERRY_ACTIVITY: dict[str, object] = {
    "COOLDOWN": int(os.environ.get("LOADTEST_COOLDOWN", "10")),
    "CACHE_ALIAS": "shared",
}
# python -m loadtest.faults --cache-timeout / --db-timeout (DB_TIMEOUT "none": no bound).
if os.environ.get("LOADTEST_CACHE_TIMEOUT"):
    STRAWBERRY_ACTIVITY["CACHE_TIMEOUT"] = float(os.environ["LOADTEST_CACHE_TIMEOUT"])
if os.environ.get("LOADTEST_DB_TIMEOUT"):
    value = os.environ["LOADTEST_DB_TIMEOUT"]
    STRAWBERRY_ACTIVITY["DB_TIMEOUT"] = None if value == "none" else float(value)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(created).3f %(process)d %(name)s %(levelname)s %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "loggers": {
        "strawberry_activity": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
