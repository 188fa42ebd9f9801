"""The test suite's settings, on a database of the site's own (``PROMETHEUS_SITE_DATABASE``:
a SQLite file path or a ``postgres://`` URL) shared by the gunicorn workers and the test."""

from __future__ import annotations

import os

import dj_database_url

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.prometheus_site.urls"
_database = os.environ.get("PROMETHEUS_SITE_DATABASE", "")
if _database.startswith("postgres"):
    DATABASES = {"default": dj_database_url.parse(_database)}
elif _database:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _database}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STRAWBERRY_ACTIVITY = {
    "MUTATION_KINDS": {"sendMoney": "transaction"},
    "PROMETHEUS_TOKEN": "s3cret-scrape-token",
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"strawberry_activity": {"handlers": ["stderr"], "level": "WARNING"}},
}
