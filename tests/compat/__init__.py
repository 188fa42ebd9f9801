"""Compatibility tests: the package against real auth stacks we did not write.

gqlauth (strawberry-django-auth), Django Channels, Django REST framework tokens, and a real
server (uvicorn) driven by a real GraphQL client (gql). They need the ``compat`` extra and
their own settings (``tests/compat/settings.py``: gqlauth's tables, a stock ``startproject``
middleware list): ``scripts/test`` runs them in a pass of their own::

    pytest --ds tests.compat.settings -m compat
"""

from __future__ import annotations

from django.conf import settings

#: True when the run uses ``tests.compat.settings``: only then are these tests collected.
COMPAT = bool(getattr(settings, "STRAWBERRY_ACTIVITY_COMPAT", False))
