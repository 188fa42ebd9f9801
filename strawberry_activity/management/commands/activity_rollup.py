"""``manage.py activity_rollup [--days N] [--kind KIND ...] [--rebuild]``: keep the history.

Counts, for the days that are over, what the series and the growth analytics read, and
keeps it (rollups, docs/scale.md): afterwards a series or analytics call over those days
reads a few hundred rows, not the ledger. Idempotent: kept numbers are not counted again,
so a nightly run costs the new day. Reads can fill rollups too; this only does it ahead.

    python manage.py activity_rollup             # every kind, the last 90 days that are over
    python manage.py activity_rollup --days 366 --kind default
    python manage.py activity_rollup --rebuild   # forget every rollup, then count again

Cron, a little after ``GRACE`` (an hour) past midnight in ``DAY_TIMEZONE``::

    15 1 * * *  cd /srv/app && python manage.py activity_rollup
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strawberry_activity.backends import get_backend
from strawberry_activity.backends.base import BaseBackend
from strawberry_activity.conf import activity_settings
from strawberry_activity.kinds import validate_kind
from strawberry_activity.metrics import WINDOWS, activity_kinds, default_range
from strawberry_activity.periods import PERIODS, first_open_day, period_start


class Command(BaseCommand):
    help = (
        "Count and keep (rollups) the series and growth analytics of the days that are "
        "over, so that reading them costs O(days). Idempotent; for cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            help="Series days to keep, ending on the last day that is over (default 90).",
        )
        parser.add_argument(
            "--kind", action="append", help="Only this kind (repeatable; default: every kind)."
        )
        parser.add_argument(
            "--rebuild", action="store_true", help="Forget every kept number first."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days, only = options["days"], options["kind"]
        limit = int(activity_settings.MAX_DAYS)
        if not 1 <= days <= limit:
            raise CommandError(f"--days must be between 1 and {limit} (MAX_DAYS), got {days}.")
        try:
            kinds = [validate_kind(k) for k in only] if only else activity_kinds()
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        backend = get_backend()
        using = backend.rollup_alias()
        if using is None:
            self.stdout.write(f"{type(backend).__name__} keeps no rollups: nothing to do.")
            return
        if options["rebuild"]:
            for kind in kinds if only else [None]:
                backend.forget_rollups(kind)
            self.stdout.write(
                f"Forgot what was kept of {', '.join(kinds) if only else 'every kind'}."
            )
        started = time.monotonic()
        last = first_open_day() - timedelta(days=1)
        for kind in kinds:
            for label, step in _steps(backend, kind, using, days, last):
                step_started = time.monotonic()
                step()
                self.stderr.write(f"{kind}: {label} ({time.monotonic() - step_started:.1f} s)")
        self.stdout.write(
            f"Kept the history of {len(kinds)} kind(s) through {last.isoformat()}"
            f" in {time.monotonic() - started:.1f} s."
        )


def _steps(
    backend: BaseBackend, kind: str, using: str, days: int, last: date
) -> list[tuple[str, Callable[[], Any]]]:
    """What the dashboard and the reports read, for the days and periods that are over."""
    first = last - timedelta(days=days - 1)
    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            f"{metric} series, {first} to {last}",
            partial(backend.daily_counts, w, first, last, kind, using),
        )
        for metric, w in WINDOWS.items()
    ]
    for period in PERIODS:
        end = period_start(last + timedelta(days=1), period) - timedelta(days=1)
        start, _ = default_range(period, end)
        label = f"by {period}, {start} to {end}"
        steps.append(
            (
                f"retention {label}",
                partial(backend.retention_counts, period, start, end, kind, using),
            )
        )
        steps.append(
            (
                f"lifecycle {label}",
                partial(backend.lifecycle_counts, period, start, end, kind, using),
            )
        )
    power = last - timedelta(days=27)
    steps.append(
        (
            f"power users, {power} to {last}",
            partial(backend.active_day_counts, power, last, kind, using),
        )
    )
    return steps
