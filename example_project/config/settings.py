"""Settings of the demo wallet: stock ``auth.User``, SQLite, strawberry-activity.

``DEMO_DATABASE`` points the SQLite file elsewhere (the tests use a temporary file).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "strawberry_django",
    # Set-up step 1 of 3: the app (steps 2 and 3: the schema extension, migrate).
    "strawberry_activity",
    "wallet",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}

# A wallet used in Bogotá: calendar days (the ledger, the series) are Bogotá days.
TIME_ZONE = "America/Bogota"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/admin/login/"

STRAWBERRY_ACTIVITY = {
    # Where activity lived before the package: `activity_metrics --validate` and
    # `--compare-methods` check the stored numbers against these tables, and
    # `seed_demo` derives the history from them with the package's backfill.
    "ACTIVITY_SOURCES": [
        {"model": "wallet.Transfer", "user_field": "sender", "timestamp_field": "created_at"},
        {"model": "wallet.Message", "user_field": "sender", "timestamp_field": "created_at"},
        {"model": "wallet.Login", "user_field": "user", "timestamp_field": "created_at"},
    ],
    # Moving money is also activity of the stricter kind "transaction" (seeds: Option B).
    "MUTATION_KINDS": {"sendMoney": "transaction"},
}
