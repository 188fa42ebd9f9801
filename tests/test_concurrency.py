"""Concurrency on PostgreSQL + Redis: racing threads and racing worker processes.

- 32 threads touch one user at once with shuffled timestamps: the newest one wins, nobody
  deadlocks, nothing is logged.
- 4 worker processes (each its own Django set-up, like 4 gunicorn workers) run the same
  users' mutations at once: with the shared Redis gate each user is written once per
  cooldown window; without it (the control) each process writes each user once, 4 times
  as many statements, which is what proves the count can tell the difference.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from strawberry_activity import touch_last_activity
from strawberry_activity.models import ActivityDay, UserActivity
from tests.testapp.models import User

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# 32 writers queued on one row, on 2 shared cores, wait longer than the default DB_TIMEOUT
# (0.05 s) by design: here the subject is correctness under contention; what the bound does
# to a waiting write is tested in test_transactions.py.
PATIENT = {"DB_TIMEOUT": 5}


@pytest.fixture(autouse=True)
def _patient(settings: Any) -> None:
    settings.STRAWBERRY_ACTIVITY = {**settings.STRAWBERRY_ACTIVITY, **PATIENT}


THREADS = 32
ROOT = Path(__file__).resolve().parent.parent


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "strawberry_activity" and r.levelno >= logging.WARNING
    ]


def _race(user: User, stamps: list[Any], *, force: bool, kind: str | None) -> list[BaseException]:
    """Each stamp in its own thread, released together; half of them inside a transaction."""
    barrier = threading.Barrier(len(stamps))
    errors: list[BaseException] = []

    def run(i: int, ts: Any) -> None:
        try:
            barrier.wait(timeout=30)
            if i % 2:
                with transaction.atomic():
                    touch_last_activity(user, ts=ts, force=force, kind=kind)
            else:
                touch_last_activity(user, ts=ts, force=force, kind=kind)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, ts)) for i, ts in enumerate(stamps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return errors


@pytest.mark.parametrize("kind", [None, "transaction"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_32_threads_forced_end_with_the_newest(
    user: User, caplog: pytest.LogCaptureFixture, kind: str | None, seed: int
) -> None:
    caplog.set_level(logging.WARNING, logger="strawberry_activity")
    base = timezone.now() - timedelta(days=3)
    # Spread over several calendar days, so the ledger inserts race as well.
    stamps = [base + timedelta(hours=2 * i, microseconds=i) for i in range(THREADS)]
    random.Random(seed).shuffle(stamps)

    errors = _race(user, stamps, force=True, kind=kind)

    assert errors == []
    assert _warnings(caplog) == []  # a deadlock or a failed statement would be logged here
    kinds = ["default"] if kind is None else ["default", kind]
    for k in kinds:
        stored = UserActivity.objects.get(user=user, kind=k).last_activity_at
        assert stored == max(stamps)
        days = set(ActivityDay.objects.filter(user=user, kind=k).values_list("day", flat=True))
        assert days == {timezone.localdate(ts) for ts in stamps}


def test_32_threads_cooldown_spaced_stamps_end_with_the_newest(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ``force``, stamps a cooldown apart each pass the database guard."""
    caplog.set_level(logging.WARNING, logger="strawberry_activity")
    now = timezone.now()
    stamps = [now - timedelta(seconds=301 * i + 1) for i in range(THREADS)]
    random.Random(4).shuffle(stamps)

    errors = _race(user, stamps, force=False, kind=None)

    assert errors == []
    assert _warnings(caplog) == []
    assert UserActivity.objects.get(user=user).last_activity_at == max(stamps)


# -- worker processes sharing Redis -----------------------------------------------------

WORKER = r"""
import json, os, random, sys
from types import SimpleNamespace

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django

django.setup()
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

config = json.loads(os.environ["WORKER_CONFIG"])
settings.STRAWBERRY_ACTIVITY = config["activity"]

from strawberry_activity.backends.db import DatabaseBackend
from tests.conftest import activity_writes
from tests.testapp.models import User
from tests.testapp.schema import schema

written = []
real_write = DatabaseBackend.write


def counting_write(self, *args, **kwargs):
    result = real_write(self, *args, **kwargs)
    written.append(result.written)
    return result


DatabaseBackend.write = counting_write
users = list(User.objects.filter(pk__in=config["users"]))
order = [u for u in users for _ in range(config["mutations"])]
random.Random(config["seed"]).shuffle(order)
errors = 0
print("ready", flush=True)
sys.stdin.readline()  # every worker starts at once
with CaptureQueriesContext(connection) as ctx:
    for user in order:
        result = schema.execute_sync(
            "mutation { sendMoney(amount: 2) }",
            context_value={"request": SimpleNamespace(user=user)},
        )
        errors += bool(result.errors) or result.data != {"sendMoney": 2}
connections.close_all()
print(json.dumps({
    "statements": len(activity_writes(ctx)),
    "written": sum(written),
    "calls": len(written),
    "errors": errors,
}), flush=True)
"""


def _run_workers(
    users: list[User], *, processes: int, mutations: int, activity: dict[str, Any]
) -> list[dict[str, int]]:
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@"
        f"{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    workers = []
    for seed in range(processes):
        config = {
            "users": [u.pk for u in users],
            "mutations": mutations,
            "seed": seed,
            "activity": activity,
        }
        env = {**os.environ, "DATABASE_URL": url, "WORKER_CONFIG": json.dumps(config)}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = []
        for worker in workers:
            out, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0, out
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.mark.redis
@pytest.mark.parametrize(
    ("gate", "expected_statements"),
    [("shared", 1), (None, 4)],
    ids=["shared-redis-gate", "control-without-gate"],
)
def test_four_processes_write_each_user_once_per_window(
    gate: str | None, expected_statements: int
) -> None:
    users = [User.objects.create_user(f"user{i}", password="pw") for i in range(20)]
    UserActivity.objects.all().delete()  # nothing recorded before the race

    reports = _run_workers(
        users,
        processes=4,
        mutations=5,
        activity={"CACHE_ALIAS": gate, "COOLDOWN": 300, **PATIENT},
    )

    assert all(r["errors"] == 0 for r in reports), reports
    statements = sum(r["statements"] for r in reports)
    # One upsert per user in the window, whichever process won; the control shows the
    # count would see 4 (one per process) if the gate did not hold.
    assert statements == expected_statements * len(users), reports
    assert sum(r["written"] for r in reports) == len(users), reports
    assert UserActivity.objects.filter(kind="default").count() == len(users)
