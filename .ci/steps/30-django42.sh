#!/usr/bin/env bash
# Django 4.2 LTS is supported too: the SQLite suite on the newest 4.2 in a venv of its own.
# (The browser test drives the demo, already run on 5.2; the example project's subprocess
# test uses .venv.)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv-django42/bin/python ]; then
    python3 -m venv .venv-django42
fi
.venv-django42/bin/python -m pip install --quiet --disable-pip-version-check \
    "django>=4.2,<5.0" -e ".[test]"
.venv-django42/bin/python -c "import django; print('==> Django', django.get_version())"
env -u DATABASE_URL -u REDIS_URL STRAWBERRY_ACTIVITY_TEST_STACK=sqlite \
    .venv-django42/bin/python -m pytest -q -p no:cacheprovider \
    -m "not browser" --deselect tests/test_example_project.py
