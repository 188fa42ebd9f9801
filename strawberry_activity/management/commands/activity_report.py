"""``manage.py activity_report``: growth analytics on the command line (docs/analytics.md).

::

    python manage.py activity_report retention                      # weekly, last 12 weeks
    python manage.py activity_report retention --period month --percent
    python manage.py activity_report lifecycle --start 2026-04-01 --end 2026-06-30
    python manage.py activity_report power-users --days 28 --format csv > power.csv

``--format table`` is for people, ``csv`` pastes into a spreadsheet (one header row, one
row per cohort, period or bucket), ``json`` has stable keys (``"version"`` says which set).
Every number comes from ``get_retention``, ``get_lifecycle`` or ``get_power_users``.
Exit codes: 0 success, 2 bad usage (a bad date, period, range or ``--days``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strawberry_activity.kinds import validate_kind
from strawberry_activity.metrics import (
    default_range,
    get_lifecycle,
    get_power_users,
    get_retention,
    local_today,
    percentage,
)
from strawberry_activity.periods import PERIODS

#: Version of the JSON document's set of keys; bumped only when keys are added.
JSON_VERSION = 1

REPORTS = ("retention", "lifecycle", "power-users")


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Growth analytics from the daily ledger: retention cohorts, lifecycle (new, "
        "returning, resurrecting, dormant, quick ratio) or power users, as a table, CSV "
        "or JSON. Exit codes: 0 ok, 2 bad usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("report", choices=REPORTS, help="Which report.")
        parser.add_argument(
            "--period",
            choices=PERIODS,
            default="week",
            help="retention, lifecycle: day, week (Monday to Sunday, the default) or month.",
        )
        parser.add_argument(
            "--start",
            type=iso_date,
            metavar="YYYY-MM-DD",
            help="retention, lifecycle: first day (default: 28 days, 12 weeks or 6 months "
            "before --end).",
        )
        parser.add_argument(
            "--end",
            type=iso_date,
            metavar="YYYY-MM-DD",
            help="Last day (default: today in DAY_TIMEZONE).",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=28,
            metavar="DAYS",
            help="power-users: the days ending on --end to count active days in (28).",
        )
        parser.add_argument(
            "--kind", default=None, help='Activity kind, e.g. "transaction" (default: default).'
        )
        parser.add_argument(
            "--format",
            choices=("table", "json", "csv"),
            default="table",
            help="table (for people, default), csv (for spreadsheets) or json (stable keys).",
        )
        parser.add_argument(
            "--percent",
            action="store_true",
            help="retention, table and csv: percentages of each cohort instead of counts.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            kind = validate_kind(options["kind"])
            report = self.build(options["report"], kind, options)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        output = options["format"]
        if output == "json":
            self.stdout.write(json.dumps(report, indent=2))
        elif output == "csv":
            self.stdout.write(self.csv(report, percent=options["percent"]), ending="")
        else:
            self.stdout.write(self.table(report, percent=options["percent"]))

    # -- the numbers -------------------------------------------------------------------

    def build(self, name: str, kind: str, options: dict[str, Any]) -> dict[str, Any]:
        end = options["end"] or local_today()
        head: dict[str, Any] = {"version": JSON_VERSION, "report": name, "kind": kind}
        if name == "power-users":
            days = options["days"]
            histogram = get_power_users(days=days, end=end, kind=kind)
            active = sum(histogram.values())
            return {
                **head,
                "days": days,
                "end": end.isoformat(),
                "active_users": active,
                "buckets": [
                    {"days": n, "users": users, "percentage": percentage(users, active)}
                    for n, users in histogram.items()
                ],
            }
        period = options["period"]
        start = options["start"] or default_range(period, end)[0]
        head.update(period=period, start=start.isoformat(), end=end.isoformat())
        if name == "retention":
            cohorts = get_retention(start, end, period=period, kind=kind)
            return {
                **head,
                "cohorts": [
                    {
                        "start": c.start.isoformat(),
                        "size": c.size,
                        "retained": list(c.retained),
                        "percentages": list(c.percentages()),
                    }
                    for c in cohorts
                ],
            }
        points = get_lifecycle(start, end, period=period, kind=kind)
        return {
            **head,
            "points": [
                {
                    "start": p.start.isoformat(),
                    "new": p.new,
                    "returning": p.returning,
                    "resurrecting": p.resurrecting,
                    "dormant": p.dormant,
                    "quick_ratio": p.quick_ratio,
                }
                for p in points
            ],
        }

    # -- CSV and table -------------------------------------------------------------------

    def rows(self, report: dict[str, Any], *, percent: bool) -> list[list[Any]]:
        """The report as a header row and data rows (the CSV, and the table's cells)."""
        name = report["report"]
        if name == "retention":
            cohorts = report["cohorts"]
            width = len(cohorts[0]["retained"]) if cohorts else 0
            header = ["cohort", "users", *(f"{report['period']} {i}" for i in range(width))]
            key = "percentages" if percent else "retained"
            return [header] + [
                [c["start"], c["size"], *c[key], *[""] * (width - len(c[key]))] for c in cohorts
            ]
        if name == "lifecycle":
            fields = ["new", "returning", "resurrecting", "dormant", "quick_ratio"]
            return [["period", *fields]] + [
                [p["start"], *("" if p[f] is None else p[f] for f in fields)]
                for p in report["points"]
            ]
        return [["active days", "users", "percentage"]] + [
            [b["days"], b["users"], b["percentage"]] for b in report["buckets"]
        ]

    def csv(self, report: dict[str, Any], *, percent: bool) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(self.rows(report, percent=percent))
        return buffer.getvalue()

    def table(self, report: dict[str, Any], *, percent: bool) -> str:
        name, kind = report["report"], report["kind"]
        if name == "power-users":
            title = (
                f"Power users (kind: {kind}): {report['active_users']:,} users by active "
                f"days among the {report['days']} days ending {report['end']}"
            )
        else:
            what = "Retention" if name == "retention" else "Lifecycle"
            unit = " (% of each cohort)" if percent and name == "retention" else ""
            title = (
                f"{what} by {report['period']} (kind: {kind}), {report['start']} to "
                f"{report['end']}{unit}"
            )
        rows = self.rows(report, percent=percent)

        def cell(value: Any) -> str:
            if isinstance(value, float):
                return f"{value:.4f}" if name == "lifecycle" else f"{value:.1f}"
            return f"{value:,}" if isinstance(value, int) else str(value)

        cells = [[cell(v) for v in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        # Dates read left to right; numbers (every other column) line up on the right.
        first = str.rjust if name == "power-users" else str.ljust
        lines = [title]
        for row in cells:
            lines.append(
                "  "
                + first(row[0], widths[0])
                + "".join("  " + v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True))
            )
        return "\n".join(line.rstrip() for line in lines)
