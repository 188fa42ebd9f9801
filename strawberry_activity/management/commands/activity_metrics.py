"""``manage.py activity_metrics``: DAU / WAU / MAU on the command line, for people and cron.

::

    python manage.py activity_metrics                      # the numbers, as a table
    python manage.py activity_metrics --detailed           # + 1h/24h/7d/30d/90d, coverage
    python manage.py activity_metrics --validate           # exit 1 when tracking missed users
    python manage.py activity_metrics --compare-methods    # stored vs the source tables
    python manage.py activity_metrics --format json        # stable keys, for dashboards

Exit codes: 0 success, 1 ``--validate`` failed, 2 bad usage or configuration. The JSON keys
are documented in ``docs/commands.md`` and only ever grow (``"version"`` says which set).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strawberry_activity.conf import activity_settings
from strawberry_activity.kinds import validate_kind
from strawberry_activity.metrics import WINDOWS, count_active, get_activity_metrics, percentage
from strawberry_activity.sources import configured_sources, source_counts, stale_users

#: Version of the JSON document's set of keys; bumped only when keys are added.
JSON_VERSION = 1

#: The windows of ``--detailed``, shortest first.
DETAILED_WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}

# "Since the beginning": earlier than any real activity, and safe to convert to any zone.
_EVER = datetime(1900, 1, 1, tzinfo=timezone.utc)

#: The stable keys of ``metrics`` in the JSON document, in display order.
METRIC_KEYS = (
    "dau",
    "wau",
    "mau",
    "total_users",
    "dau_percentage",
    "wau_percentage",
    "mau_percentage",
    "stickiness",
)

SAMPLE_SIZE = 10


class Command(BaseCommand):
    help = (
        "Show DAU / WAU / MAU from the stored activity; --detailed, --validate and "
        "--compare-methods add more. Exit codes: 0 ok, 1 validation failed, 2 bad usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--detailed",
            action="store_true",
            help="Add the 1h/24h/7d/30d/90d windows, never-active users and coverage.",
        )
        parser.add_argument(
            "--validate",
            action="store_true",
            help="Check coverage and stale users (source activity newer than the stored "
            "time by more than COOLDOWN); exit 1 when the check fails.",
        )
        parser.add_argument(
            "--compare-methods",
            action="store_true",
            help="Show the stored metrics beside the same metrics computed from "
            "ACTIVITY_SOURCES (the old multi-table union), with the difference.",
        )
        parser.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="table (for people, default) or json (stable keys, for cron and dashboards).",
        )
        parser.add_argument(
            "--kind", default=None, help='Activity kind, e.g. "transaction" (default: default).'
        )
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            metavar="DAYS",
            help="--validate: how far back source rows are checked for stale users (30).",
        )
        parser.add_argument(
            "--min-coverage",
            type=float,
            default=0.0,
            metavar="PERCENT",
            help="--validate: fail when fewer than PERCENT %% of users have any activity (0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            kind = validate_kind(options["kind"])
        except (TypeError, ValueError) as exc:
            raise CommandError(f"--kind: {exc}", returncode=2) from None
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.", returncode=2)
        if not 0 <= options["min_coverage"] <= 100:
            raise CommandError("--min-coverage must be between 0 and 100.", returncode=2)
        if options["compare_methods"] and not configured_sources():
            raise CommandError(
                "--compare-methods needs ACTIVITY_SOURCES in STRAWBERRY_ACTIVITY: "
                "the tables the old method counted from.",
                returncode=2,
            )

        # The JSON numbers are get_activity_metrics' own (cache included); everything else
        # is computed for the same instant, its as_of.
        metrics = get_activity_metrics(kind=kind)
        now: datetime = metrics["as_of"]
        report: dict[str, Any] = {
            "version": JSON_VERSION,
            "kind": kind,
            "as_of": now.isoformat(),
            "metrics": {key: metrics[key] for key in METRIC_KEYS},
        }
        if options["detailed"]:
            report["detailed"] = self.detailed(now, kind)
        if options["validate"]:
            report["validation"] = self.validation(
                now, kind, days=options["days"], min_coverage=options["min_coverage"]
            )
        if options["compare_methods"]:
            report["comparison"] = self.comparison(now, metrics)

        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(self.table(report))

        validation = report.get("validation")
        if validation is not None and not validation["ok"]:
            raise CommandError("Validation failed: " + "; ".join(validation["problems"]))

    # -- the sections ------------------------------------------------------------------

    def detailed(self, now: datetime, kind: str) -> dict[str, Any]:
        windows = {name: now - length for name, length in DETAILED_WINDOWS.items()}
        counts = count_active({**windows, "ever": _EVER}, kind)
        total, ever = counts["total_users"], counts["ever"]
        return {
            "windows": {name: counts[name] for name in DETAILED_WINDOWS},
            "total_users": total,
            "ever_active": ever,
            "never_active": total - ever,
            "coverage": percentage(ever, total),
        }

    def validation(
        self, now: datetime, kind: str, *, days: int, min_coverage: float
    ) -> dict[str, Any]:
        counts = count_active({"ever": _EVER}, kind)
        total, ever = counts["total_users"], counts["ever"]
        coverage = percentage(ever, total)
        problems = []
        if coverage < min_coverage:
            problems.append(f"coverage {coverage}% is below --min-coverage {min_coverage}%")
        stale: int | None = None
        sample: list[Any] = []
        if configured_sources():
            try:
                users = stale_users(
                    since=now - timedelta(days=days),
                    kind=kind,
                    using=activity_settings.METRICS_DATABASE,
                )
            except TypeError as exc:
                raise CommandError(f"--validate: {exc}", returncode=2) from None
            stale = users.count()
            if stale:
                sample = list(users.order_by("pk").values_list("pk", flat=True)[:SAMPLE_SIZE])
                problems.append(
                    f"{stale} stale users: source activity in the last {days} days newer than "
                    f"their stored activity by more than COOLDOWN; run backfill_last_activity "
                    f"and check that their actions go through tracked mutations"
                )
        return {
            "ok": not problems,
            "problems": problems,
            "total_users": total,
            "ever_active": ever,
            "coverage": coverage,
            "min_coverage": min_coverage,
            "sources_checked": bool(configured_sources()),
            "lookback_days": days,
            "cooldown_seconds": float(activity_settings.COOLDOWN),
            "stale_users": stale,
            "stale_sample": [str(pk) for pk in sample],
        }

    def comparison(self, now: datetime, metrics: dict[str, Any]) -> dict[str, Any]:
        windows = {name: now - timedelta(days=days) for name, days in WINDOWS.items()}
        old = source_counts(windows, using=activity_settings.METRICS_DATABASE)
        stored = {name: int(metrics[name]) for name in WINDOWS}
        return {
            "stored": stored,
            "sources": old,
            "difference": {name: stored[name] - old[name] for name in WINDOWS},
        }

    # -- the table ---------------------------------------------------------------------

    def table(self, report: dict[str, Any]) -> str:
        m = report["metrics"]
        lines = [
            f"Activity metrics (kind: {report['kind']}) as of {report['as_of']}",
            f"  DAU          {m['dau']:>10,}  {m['dau_percentage']:>6.2f}%",
            f"  WAU          {m['wau']:>10,}  {m['wau_percentage']:>6.2f}%",
            f"  MAU          {m['mau']:>10,}  {m['mau_percentage']:>6.2f}%",
            f"  Total users  {m['total_users']:>10,}",
            f"  Stickiness   {m['stickiness']:>10.4f}  (DAU / MAU)",
        ]
        if "detailed" in report:
            d = report["detailed"]
            lines += ["", "Active users by window"]
            lines += [
                f"  {name:<11}  {value:>10,}  {percentage(value, d['total_users']):>6.2f}%"
                for name, value in d["windows"].items()
            ]
            lines += [
                f"  Never active {d['never_active']:>10,}",
                f"  Coverage     {d['coverage']:>9.2f}%  (users with any activity)",
            ]
        if "validation" in report:
            v = report["validation"]
            lines += ["", "Validation"]
            lines.append(
                f"  Coverage     {v['coverage']:>9.2f}%  ({v['ever_active']:,} of "
                f"{v['total_users']:,} users have activity; minimum {v['min_coverage']}%)"
            )
            if v["sources_checked"]:
                lines.append(
                    f"  Stale users  {v['stale_users']:>10,}  (source activity in the last "
                    f"{v['lookback_days']} days newer than stored by > "
                    f"{v['cooldown_seconds']:g}s)"
                )
                if v["stale_sample"]:
                    lines.append(f"  e.g. users  {', '.join(v['stale_sample'])}")
            else:
                lines.append("  Stale users        n/a  (ACTIVITY_SOURCES is empty)")
            lines.append("  Result       " + ("passed" if v["ok"] else "FAILED"))
        if "comparison" in report:
            c = report["comparison"]
            lines += ["", "Stored vs source tables (old method)"]
            lines.append(f"  {'':<5}  {'stored':>10}  {'sources':>10}  {'difference':>10}")
            for name in WINDOWS:
                lines.append(
                    f"  {name.upper():<5}  {c['stored'][name]:>10,}  {c['sources'][name]:>10,}  "
                    f"{c['difference'][name]:>+10,}"
                )
        return "\n".join(lines)
