"""Settings of the test suite.

SQLite + local memory by default; PostgreSQL and Redis when ``DATABASE_URL`` and
``REDIS_URL`` are set (``.ci/run`` runs both ways).
"""

from __future__ import annotations

import os

import dj_database_url

SECRET_KEY = "tests-only"
AUTH_USER_MODEL = "testapp.User"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "strawberry_django",
    "strawberry_activity",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")

# Several runs may share one PostgreSQL server: TEST_DATABASE_NAME keeps them apart.
TEST_DATABASE = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_strawberry_activity")}

if DATABASE_URL:
    DATABASES = {
        "default": {**dj_database_url.parse(DATABASE_URL), "TEST": TEST_DATABASE},
        # A second alias on the same server stands in for a read replica.
        "replica": {**dj_database_url.parse(DATABASE_URL), "TEST": TEST_DATABASE},
    }
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "replica": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    }

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shared"}
    ),
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STRAWBERRY_ACTIVITY: dict[str, object] = {}
