"""``manage.py backfill_last_activity``: derive stored activity from ``ACTIVITY_SOURCES``.

Each user's last activity is raised to their newest source row within ``--days`` (never
lowered), and the daily ledger gets one row per user-day found. Set-based SQL, a few
statements per batch of ``--batch-size`` users; running it twice changes nothing::

    python manage.py backfill_last_activity --dry-run          # what would change
    python manage.py backfill_last_activity                    # the last 365 days
    python manage.py backfill_last_activity --days 90 --batch-size 20000 --kind transaction

Progress goes to stderr, one line per batch (overwritten in place on a terminal); the summary
goes to stdout.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.conf import activity_settings
from strawberry_activity.models import validate_kind
from strawberry_activity.sources import configured_sources


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


class Progress:
    """A tqdm-like line per batch: users done of total, rate, ETA, running counts.

    Called by the backend after each batch as ``progress(last_pk, totals)``. Batches are
    ``batch_size`` users except the last, so the users done are counted without a query.
    """

    def __init__(self, command: BaseCommand, total: int, batch_size: int) -> None:
        self.command = command
        self.total = total
        self.batch_size = batch_size
        self.batches = 0
        self.started = time.monotonic()
        # On a terminal the line is redrawn; in a log file each batch is a line of its own.
        self.inline = command.stderr.isatty()

    def __call__(self, last_pk: Any, totals: dict[str, int]) -> None:
        self.batches += 1
        done = self.total if last_pk is None else min(self.batches * self.batch_size, self.total)
        elapsed = time.monotonic() - self.started
        share = 100 * done / self.total if self.total else 100.0
        eta = elapsed / done * (self.total - done) if done else 0.0
        line = (
            f"batch {self.batches}: {done:,}/{self.total:,} users ({share:.0f}%) | "
            f"{totals['users']:,} with source rows, {totals['updated']:,} raised, "
            f"{totals['days']:,} ledger days | {_duration(elapsed)} elapsed, "
            f"ETA {_duration(eta)}"
        )
        if self.inline:
            self.command.stderr.write("\r" + line, ending="")
        else:
            self.command.stderr.write(line)

    def close(self) -> None:
        if self.inline:
            self.command.stderr.write("")


class Command(BaseCommand):
    help = (
        "Raise each user's last activity to their newest ACTIVITY_SOURCES row within --days "
        "(never lowering it) and fill the daily ledger. Set-based, idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=365,
            help="Read source rows from the last DAYS days (default 365).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would change and write nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            metavar="N",
            help="Users per batch, each batch one transaction (default 5000).",
        )
        parser.add_argument(
            "--kind", default=None, help='Activity kind to write, e.g. "transaction".'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days, batch_size, dry_run = options["days"], options["batch_size"], options["dry_run"]
        if days < 1:
            raise CommandError("--days must be at least 1.", returncode=2)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.", returncode=2)
        try:
            kind = validate_kind(options["kind"])
        except (TypeError, ValueError) as exc:
            raise CommandError(f"--kind: {exc}", returncode=2) from None
        sources = configured_sources()
        if not sources:
            raise CommandError(
                "ACTIVITY_SOURCES is empty: name the tables that record user actions, e.g. "
                '[{"model": "payments.Transfer", "user_field": "sender", '
                '"timestamp_field": "created_at"}].',
                returncode=2,
            )

        backend = get_backend()
        # The backend walks every user in primary-key batches; count them once so the
        # progress line can say how far it is.
        total = backend.backfill_users()
        since = timezone.now() - timedelta(days=days)
        progress = Progress(self, total, batch_size) if options["verbosity"] >= 1 else None
        started = time.monotonic()
        try:
            counts = backend.backfill(
                sources,
                since,
                kind,
                day_timezone=str(activity_settings.DAY_TIMEZONE),
                batch_size=batch_size,
                dry_run=dry_run,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.close()
        elapsed = time.monotonic() - started

        names = ", ".join(source["model"] for source in sources)
        window = f"since {since:%Y-%m-%d %H:%M} ({days} days)"
        if dry_run:
            self.stdout.write(
                f"Dry run, nothing written. From {names} {window}, kind {kind!r}:\n"
                f"  {counts['users']:,} users have source rows\n"
                f"  {counts['updated']:,} would have their last activity raised\n"
                f"  {counts['days']:,} ledger days would be added"
            )
        else:
            self.stdout.write(
                f"Backfilled from {names} {window}, kind {kind!r}, in {_duration(elapsed)}:\n"
                f"  {counts['users']:,} users have source rows\n"
                f"  {counts['updated']:,} had their last activity raised\n"
                f"  {counts['days']:,} ledger days added"
            )
