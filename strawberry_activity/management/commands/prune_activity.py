"""``manage.py prune_activity --older-than DAYS [--dry-run]``: bound the daily ledger.

The ledger holds one row per user per active day per kind; history older than what you
chart can go. Rolling metrics (``last_activity_at``) are never touched.

    python manage.py prune_activity --older-than 400 --dry-run
    python manage.py prune_activity --older-than 400

Rows go in batches (``--batch-size``, one transaction each), so no lock is held for long;
each batch also forgets the rollups computed from the days it deletes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strawberry_activity.backends import get_backend
from strawberry_activity.metrics import WINDOWS, local_today


class Command(BaseCommand):
    help = "Delete daily-ledger rows older than --older-than days (history only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="DAYS",
            help="Delete ledger days before today minus DAYS (in DAY_TIMEZONE).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=10_000,
            metavar="N",
            help="Rows deleted per transaction (default 10000).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(
        self, *args: Any, older_than: int, batch_size: int, dry_run: bool, **options: Any
    ) -> None:
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, got {batch_size}.")
        # A series needs up to MAU - 1 days before its start: keep at least that much.
        mau = WINDOWS["mau"]
        if older_than < mau:
            raise CommandError(
                f"--older-than must be at least {mau} days (MAU looks back {mau} days)."
            )
        cutoff = local_today() - timedelta(days=older_than)

        def progress(kind: str, day: date, deleted: int) -> None:
            self.stderr.write(f"{kind} {day.isoformat()}: {deleted:,} rows deleted so far")

        count = get_backend().prune(
            cutoff,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress if options["verbosity"] >= 2 else None,
        )
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {count} ledger rows from before {cutoff.isoformat()}.")
