"""``gunicorn tests.prometheus_site.wsgi:application``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.prometheus_site.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
