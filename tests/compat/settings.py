"""Settings of the compatibility pass: the test suite's, plus the real auth stacks.

``pytest --ds tests.compat.settings -m compat`` (``scripts/test`` runs it). The middleware is
the one ``django-admin startproject`` writes (CSRF included), plus gqlauth's JWT middleware,
as gqlauth's documentation installs it. SQLite is a file here, not memory: the live-server
tests serve requests from other threads.
"""

from __future__ import annotations

import os
import tempfile

from gqlauth.settings_type import DjangoSetting, GqlAuthSettings

from tests.settings import *  # noqa: F403
from tests.settings import DATABASE_URL, DATABASES, INSTALLED_APPS

STRAWBERRY_ACTIVITY_COMPAT = True

INSTALLED_APPS = [*INSTALLED_APPS, "gqlauth", "rest_framework", "rest_framework.authtoken"]
ROOT_URLCONF = "tests.compat.urls"

#: ``django-admin startproject``'s list, in its order.
STOCK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE = [*STOCK_MIDDLEWARE, "gqlauth.core.middlewares.django_jwt_middleware"]

GQL_AUTH = GqlAuthSettings(
    LOGIN_REQUIRE_CAPTCHA=False,
    REGISTER_REQUIRE_CAPTCHA=False,
    # SECRET_KEY is too short for HS256 (PyJWT warns): a key of the recommended length.
    JWT_SECRET_KEY=DjangoSetting.override("compat-tests-only-" + "k" * 32),
)

if not DATABASE_URL:
    # One file per run: other runs on this machine may be going on at the same time.
    _file = os.path.join(tempfile.gettempdir(), f"strawberry-activity-compat-{os.getpid()}.db")
    DATABASES = {
        **DATABASES,
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _file,
            "TEST": {"NAME": _file},
        },
    }
