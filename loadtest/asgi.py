"""``uvicorn loadtest.asgi:application`` (AsyncGraphQLView)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
os.environ["LOADTEST_VIEWS"] = "async"

from django.core.asgi import get_asgi_application

application = get_asgi_application()
