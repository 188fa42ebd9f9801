"""write_budget: SQL writes issued / the fewest that record the same activity.

N users each have S sessions at random moments over T hours of simulated time, each
session K mutations a random 0-120 s apart (how people use an app), replayed in time
order through ``execute_sync`` with the real extension, the ``db`` backend and the
default 300 s cooldown. The clock is simulated: ``time.time``, ``time.monotonic`` and
``django.utils.timezone.now`` all read one fake clock, moved forward before each mutation.

The theoretical minimum, computed from the same event list:

* one timestamp write per cooldown window: a user's first mutation, then the first one at
  least ``COOLDOWN`` after the previous write (anything fewer leaves a timestamp more than
  ``COOLDOWN`` stale);
* one ledger row per user and calendar day with a mutation (anything fewer loses a day).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from unittest import mock

from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from benchmarks.harness import Result
from benchmarks.operations import MUTATION, _context
from strawberry_activity import ActivityTrackingExtension, tracking
from strawberry_activity.models import ActivityDay
from tests.testapp.models import User
from tests.testapp.schema import build

COOLDOWN = 300.0
START = datetime(2026, 7, 1, 6, tzinfo=UTC).timestamp()  # after all generated data


class Clock:
    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def write_budget(*, quick: bool) -> list[Result]:
    users, sessions, per_session, hours = (50, 8, 6, 72) if quick else (400, 10, 8, 72)
    rng = random.Random(7)
    User.objects.filter(username__startswith="bench-writer-").delete()
    people = [User.objects.create(username=f"bench-writer-{i}") for i in range(users)]
    events = []
    for i in range(users):
        for _ in range(sessions):
            t = START + rng.uniform(0, hours * 3600)
            for _ in range(per_session):
                events.append((t, i))
                t += rng.uniform(0, 120)
    events.sort()
    # The minimum, from the events alone.
    last_write: dict[int, float] = {}
    days: set[tuple[int, object]] = set()
    windows = 0
    for t, i in events:
        if i not in last_write or t - last_write[i] >= COOLDOWN:
            last_write[i] = t
            windows += 1
        days.add((i, datetime.fromtimestamp(t, UTC).date()))
    minimum = windows + len(days)

    clock = Clock()
    contexts = [_context(u) for u in people]
    with (
        mock.patch("time.time", clock.time),
        mock.patch("time.monotonic", clock.time),
        mock.patch("django.utils.timezone.now", clock.datetime),
        override_settings(STRAWBERRY_ACTIVITY={"COOLDOWN": COOLDOWN}),
    ):
        tracking.reset()  # a cooldown built on the fake clock
        schema = build(ActivityTrackingExtension)
        with CaptureQueriesContext(connection) as captured:
            for t, i in events:
                clock.now = t
                assert schema.execute_sync(MUTATION, context_value=contexts[i]).errors is None
        tracking.reset()
    statements = [q["sql"] for q in captured.captured_queries]
    writes = [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    activity = [s for s in writes if "strawberry_activity_useractivity" in s]
    ledger = [s for s in writes if "strawberry_activity_activityday" in s]
    reads = len(statements) - len(writes)
    recorded = ActivityDay.objects.filter(user__in=people).count()
    User.objects.filter(username__startswith="bench-writer-").delete()
    return [
        Result(
            "write_budget",
            len(writes) / minimum,
            1.0,
            f"{users} users x {sessions} sessions x {per_session} mutations over {hours} h, "
            f"COOLDOWN {COOLDOWN:g} s",
            [
                f"writes issued: {len(writes)} ({len(activity)} activity upserts, "
                f"{len(ledger)} ledger inserts, "
                f"{len(writes) - len(activity) - len(ledger)} other); reads: {reads}",
                f"minimum: {windows} cooldown windows + {len(days)} user-days = {minimum}",
                f"ledger rows recorded: {recorded} of {len(days)} user-days with activity",
                f"{len(events)} mutations: {len(writes) / len(events):.3f} writes per mutation",
            ],
        )
    ]
