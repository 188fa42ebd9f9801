"""The dashboard in a real browser: the demo wallet, seeded, served, read by Chromium.

Headless Debian Chromium (``/usr/bin/chromium``) driven by Playwright logs in through the
admin login form as the demo staff user, follows the admin index's "Activity dashboard"
link, checks that each chart line has one point per day with exactly the values of the
series API, that the growth section (retention triangle, lifecycle bars and quick ratio,
power-user histogram) draws exactly what ``get_retention``, ``get_lifecycle`` and
``get_power_users`` return, also after switching the period and submitting a date range,
and saves ``docs/img/dashboard.png`` (the screenshot of the docs and the README) and
``docs/img/growth.png`` (the growth section, for docs/analytics.md).

The server is the demo itself (``example_project``, stock ``auth.User``, SQLite) in a
subprocess, so this also proves README command 1's stack end to end. Off CI, a missing
Chromium skips the test; on CI (``CI`` set) it fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.demo import PROJECT, ROOT, demo_env, demo_manage

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
GROWTH_SCREENSHOT = ROOT / "docs" / "img" / "growth.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What the dashboard must draw, asked of the package's API in the demo's own settings.
SERIES = """
import json
from datetime import timedelta
from strawberry_activity.admin import CHART_DAYS, local_today
from strawberry_activity.metrics import get_activity_series, get_stickiness_series
end = local_today()
start = end - timedelta(days=CHART_DAYS - 1)
series = {m: get_activity_series(m, start, end) for m in ("dau", "wau", "mau")}
series["stickiness"] = get_stickiness_series(start, end)
print(json.dumps({m: [[d.isoformat(), str(v)] for d, v in s] for m, s in series.items()}))
"""


# The growth section's numbers, asked of the API for the range the page says it shows.
GROWTH = """
import json
from datetime import date
from strawberry_activity.admin import POWER_DAYS
from strawberry_activity.metrics import get_lifecycle, get_power_users, get_retention
start, end = date.fromisoformat(start), date.fromisoformat(end)
print(json.dumps({
    "retention": {c.start.isoformat(): list(c.retained) for c in get_retention(
        start, end, period=period)},
    "lifecycle": [[p.start.isoformat(), p.new, p.returning, p.resurrecting, p.dormant,
                   p.quick_ratio] for p in get_lifecycle(start, end, period=period)],
    "power": list(get_power_users(days=POWER_DAYS, end=end).values()),
}))
"""

# What the page draws: read back from its data-* attributes.
DRAWN = """() => {
  const growth = document.querySelector('#growth').dataset;
  const retention = {};
  for (const td of document.querySelectorAll('table.sa-retention td[data-offset]')) {
    (retention[td.dataset.cohort] ||= []).push(Number(td.dataset.count));
  }
  const lifecycle = [...document.querySelectorAll('svg.sa-lifecycle g.sa-bar')].map(g => {
    const v = s => Number(g.querySelector(`rect[data-status=${s}]`).dataset.value);
    const dot = document.querySelector(`g.sa-ratio circle[data-period="${g.dataset.period}"]`);
    return [g.dataset.period, v('new'), v('returning'), v('resurrecting'), v('dormant'),
            dot ? Number(dot.dataset.value) : null];
  });
  const power = [...document.querySelectorAll('svg.sa-histogram rect[data-days]')]
    .map(r => Number(r.dataset.value));
  return {period: growth.period, start: growth.start, end: growth.end,
          drawn: {retention, lifecycle, power}};
}"""


def check_growth(page: Any, manage: Any) -> dict[str, Any]:
    """The growth section draws exactly the API's numbers for the range it shows."""
    shown = page.evaluate(DRAWN)
    args = f"period, start, end = {shown['period']!r}, {shown['start']!r}, {shown['end']!r}"
    expected = json.loads(manage("shell", "-c", args + GROWTH).splitlines()[-1])
    assert shown["drawn"] == expected, shown["period"]
    assert any(any(row[1:]) for row in expected["retention"].values())
    assert sum(expected["power"]) > 0
    return shown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The seeded demo on a free port; yields its URL and a ``manage`` runner."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = demo_env(tmp_path_factory.mktemp("demo") / "demo.sqlite3")
    manage = demo_manage(env)
    manage("migrate", "--noinput")
    manage("seed_demo")  # the full demo population: the screenshot should look real
    manage("ensure_demo_user")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/admin/login/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield {"url": url, "manage": manage}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_dashboard_draws_the_series_api(demo: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{demo['url']}/admin/login/?next=/admin/")
            page.fill("#id_username", "demo")
            page.fill("#id_password", "demo")
            page.click("input[type=submit]")
            page.wait_for_url(f"{demo['url']}/admin/")
            # Reachable from the admin index: the app's section has an Activity dashboard row.
            page.click(".app-strawberry_activity a:text-is('Activity dashboard')")
            page.wait_for_selector("svg.sa-chart circle")
            assert page.url.endswith("/admin/strawberry_activity/activitydashboard/")

            drawn = page.eval_on_selector_all(
                "g.sa-line circle",
                """els => els.map(e => [e.closest('g').dataset.metric,
                                         e.dataset.date, e.dataset.value])""",
            )
            # Asked after the page was drawn: logging in above was activity too.
            expected = json.loads(demo["manage"]("shell", "-c", SERIES).splitlines()[-1])
            for metric, points in expected.items():
                assert [[d, v] for m, d, v in drawn if m == metric] == points, metric
            assert len(expected["dau"]) == 90
            assert max(int(v) for _, v in expected["mau"]) > 0

            # The cards' "vs previous period" are the series' last complete periods.
            deltas = page.eval_on_selector_all(
                ".sa-card .sa-delta",
                "els => els.map(e => [e.closest('.sa-card').dataset.metric,"
                " Number(e.dataset.current), Number(e.dataset.previous)])",
            )
            points = {m: [int(v) for _, v in expected[m]] for m in ("dau", "wau", "mau")}
            assert deltas == [
                [m, points[m][-2], points[m][-2 - window]]
                for m, window in (("dau", 1), ("wau", 7), ("mau", 30))
            ]

            # Growth: weekly by default, then monthly, then a date range of days.
            assert check_growth(page, demo["manage"])["period"] == "week"
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.locator("#growth").screenshot(path=str(GROWTH_SCREENSHOT))

            page.click(".sa-periods a[data-period=month]")
            page.wait_for_selector("#growth[data-period=month]")
            assert check_growth(page, demo["manage"])["period"] == "month"

            page.click(".sa-periods a[data-period=day]")
            page.wait_for_selector("#growth[data-period=day]")
            end = date.fromisoformat(page.get_attribute("#growth", "data-end"))
            start = end - timedelta(days=20)
            page.fill("form.sa-range input[name=start]", start.isoformat())
            page.fill("form.sa-range input[name=end]", end.isoformat())
            page.click("form.sa-range button[type=submit]")
            page.wait_for_selector(f"#growth[data-start='{start.isoformat()}']")
            shown = check_growth(page, demo["manage"])
            assert (shown["period"], len(shown["drawn"]["retention"])) == ("day", 21)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
    assert GROWTH_SCREENSHOT.stat().st_size > 10_000
