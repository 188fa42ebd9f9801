"""``python -m tests.prometheus_site.populate``: migrate the site's database, add users and
activity of three kinds at times far from any window's edge, and print the expected
numbers: ``{kind: get_activity_metrics(kind=kind)}`` as JSON (without ``as_of``).

``python -m tests.prometheus_site.populate --expected`` prints the numbers only.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.prometheus_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from strawberry_activity import get_activity_metrics, touch_last_activity  # noqa: E402
from tests.testapp.models import User  # noqa: E402

#: The kinds the site has: default, MUTATION_KINDS' "transaction", and a stored-only one.
KINDS = ["default", "export", "transaction"]


def populate() -> None:
    call_command("migrate", verbosity=0)
    User.objects.create_user("staff", password="pw", is_staff=True)
    User.objects.create_user("member", password="pw")
    now = timezone.now()
    # Hours or days away from the 1 / 7 / 30 day edges: the numbers hold while the test runs.
    ages = [2, 5, 30, 70, 100, 200, 400, 600, 900, 2000]  # hours
    for i, hours in enumerate(ages):
        user = User.objects.create_user(f"user{i}", password="pw")
        ts = now - timedelta(hours=hours)
        touch_last_activity(user, ts=ts, force=True)
        if i % 3 == 0:
            touch_last_activity(user, ts=ts, force=True, kind="transaction")
        if i % 4 == 1:
            touch_last_activity(user, ts=ts, force=True, kind="export")


def expected() -> dict[str, dict[str, object]]:
    numbers = {kind: get_activity_metrics(kind=kind) for kind in KINDS}
    for values in numbers.values():
        values.pop("as_of")
    return numbers


if __name__ == "__main__":
    if "--expected" not in sys.argv:
        populate()
    print(json.dumps(expected()))
