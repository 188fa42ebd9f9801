"""``activity_report``: the growth analytics on the command line, for people (a table),
spreadsheets (CSV) and scripts (JSON), with the Python API's numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from strawberry_activity import get_lifecycle, get_power_users, get_retention
from strawberry_activity.metrics import default_range, local_today
from strawberry_activity.models import ActivityDay
from tests.statements import reads
from tests.testapp.models import User

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("activity_report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def ledger() -> None:
    """Weekly cohorts of three users from May 2026, each back now and then; a stricter
    kind for some."""
    users = User.objects.bulk_create([User(username=f"r{i}") for i in range(18)])
    rows = []
    for i, user in enumerate(users):
        first = date(2026, 5, 4) + timedelta(days=7 * (i // 3) + i % 3)
        for week in range(0, 10, 1 + i % 3):
            rows.append(ActivityDay(user=user, day=first + timedelta(weeks=week)))
        if i % 2:
            rows.append(ActivityDay(user=user, kind="transaction", day=first))
    ActivityDay.objects.bulk_create(rows)


def test_retention_csv_is_the_api_triangle(ledger: None) -> None:
    text = run("retention", "--start", "2026-05-04", "--end", "2026-06-28", "--format", "csv")
    rows = list(csv.reader(io.StringIO(text)))
    cohorts = get_retention(date(2026, 5, 4), date(2026, 6, 28))
    assert rows[0] == ["cohort", "users", *(f"week {i}" for i in range(len(cohorts)))]
    assert len(rows) == len(cohorts) + 1
    for row, cohort in zip(rows[1:], cohorts, strict=True):
        assert row[0] == cohort.start.isoformat()
        assert int(row[1]) == cohort.size
        cells = row[2:]
        assert [int(v) for v in cells[: len(cohort.retained)]] == list(cohort.retained)
        assert cells[len(cohort.retained) :] == [""] * (len(cells) - len(cohort.retained))
    assert any(c.size for c in cohorts)


def test_retention_percentages(ledger: None) -> None:
    text = run("retention", "--start", "2026-05-01", "--end", "2026-07-31", "--period",
               "month", "--format", "csv", "--percent")  # fmt: skip
    rows = list(csv.reader(io.StringIO(text)))
    cohorts = get_retention(date(2026, 5, 1), date(2026, 7, 31), period="month")
    assert rows[0][:3] == ["cohort", "users", "month 0"]
    for row, cohort in zip(rows[1:], cohorts, strict=True):
        assert [float(v) for v in row[2:] if v] == list(cohort.percentages())
    table = run("retention", "--start", "2026-05-01", "--end", "2026-07-31", "--period",
                "month", "--percent")  # fmt: skip
    assert "(% of each cohort)" in table.splitlines()[0]
    assert "100.0" in table


def test_lifecycle_json_and_csv(ledger: None) -> None:
    args = ("lifecycle", "--start", "2026-05-04", "--end", "2026-07-12", "--kind", "transaction")
    report = json.loads(run(*args, "--format", "json"))
    points = get_lifecycle(date(2026, 5, 4), date(2026, 7, 12), kind="transaction")
    assert report["version"] == 1
    assert (report["report"], report["kind"], report["period"]) == (
        "lifecycle",
        "transaction",
        "week",
    )
    assert report["points"] == [
        {
            "start": p.start.isoformat(),
            "new": p.new,
            "returning": p.returning,
            "resurrecting": p.resurrecting,
            "dormant": p.dormant,
            "quick_ratio": p.quick_ratio,
        }
        for p in points
    ]
    rows = list(csv.reader(io.StringIO(run(*args, "--format", "csv"))))
    assert rows[0] == ["period", "new", "returning", "resurrecting", "dormant", "quick_ratio"]
    for row, p in zip(rows[1:], points, strict=True):
        ratio = "" if p.quick_ratio is None else str(p.quick_ratio)
        assert row == [p.start.isoformat(), *map(str, (p.new, p.returning, p.resurrecting,
                                                       p.dormant)), ratio]  # fmt: skip


def test_power_users_table_and_json(ledger: None) -> None:
    end = date(2026, 7, 5)
    histogram = get_power_users(days=56, end=end)
    report = json.loads(run("power-users", "--days", "56", "--end", "2026-07-05", "--format",
                            "json"))  # fmt: skip
    assert [(b["days"], b["users"]) for b in report["buckets"]] == list(histogram.items())
    assert report["active_users"] == sum(histogram.values()) > 0
    table = run("power-users", "--days", "56", "--end", "2026-07-05").splitlines()
    assert table[0].startswith("Power users (kind: default): ")
    assert len(table) == 2 + 56
    cells = [line.split() for line in table[2:]]
    assert [(int(n), int(users)) for n, users, _ in cells] == list(histogram.items())


def test_defaults_today_and_the_default_range(ledger: None) -> None:
    report = json.loads(run("retention", "--format", "json"))
    start, _ = default_range("week")
    assert (report["start"], report["end"]) == (start.isoformat(), local_today().isoformat())
    assert len(report["cohorts"]) == 12
    report = json.loads(run("power-users", "--format", "json"))
    assert (report["days"], report["end"]) == (28, local_today().isoformat())


def test_table_shape(ledger: None) -> None:
    lines = run("lifecycle", "--start", "2026-05-04", "--end", "2026-06-07").splitlines()
    assert lines[0] == "Lifecycle by week (kind: default), 2026-05-04 to 2026-06-07"
    assert lines[1].split() == ["period", "new", "returning", "resurrecting", "dormant",
                                "quick_ratio"]  # fmt: skip
    assert len(lines) == 2 + 5


def test_one_query_per_report(ledger: None) -> None:
    for args in (("retention",), ("lifecycle", "--period", "day"), ("power-users",)):
        with CaptureQueriesContext(connection) as ctx:
            run(*args, "--format", "csv")
        assert len(reads(ctx)) == 1, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("retention", "--start", "2026-02-01", "--end", "2026-01-01"), "before start"),
        (("lifecycle", "--start", "2024-01-01", "--end", "2026-01-01"), "more than 366"),
        (("power-users", "--days", "0"), "between 1 and 366"),
        (("retention", "--kind", ""), "kind must be"),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message) as raised:
        run(*args)
    assert raised.value.returncode == 2


def test_bad_date_and_period_are_usage_errors() -> None:
    for args in (("retention", "--start", "2026-02-31"), ("lifecycle", "--period", "year")):
        with pytest.raises(CommandError):
            run(*args)


def test_max_days_shortens_the_default_range() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"MAX_DAYS": 30}):
        report = json.loads(run("retention", "--period", "month", "--format", "json"))
    start, end = date.fromisoformat(report["start"]), date.fromisoformat(report["end"])
    assert (end - start).days + 1 == 30
