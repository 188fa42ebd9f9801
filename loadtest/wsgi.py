"""``gunicorn loadtest.wsgi:application`` (GraphQLView)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
os.environ["LOADTEST_VIEWS"] = "sync"

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
