"""The report: latency, writes against the minimum, lost users, warnings."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from loadtest.load import Run, Sample
from loadtest.services import (
    SLACK,
    log,
    sql,
)

# -- the report ----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def minimum_writes(times: list[float], cooldown: float) -> int:
    """Writes needed to keep a user within COOLDOWN: one per window, greedily."""
    windows, until = 0, -math.inf
    for t in sorted(times):
        if t >= until:
            windows += 1
            until = t + cooldown
    return windows


def report(
    run: Run,
    names: list[str],
    cooldown: float,
    duration: float,
    warnings: list[str],
    processes: int,
    faults: bool,
) -> tuple[dict[str, Any], list[str]]:
    samples = run.samples
    problems: list[str] = []
    verdicts: dict[str, int] = defaultdict(int)
    for s in samples:
        verdicts[f"{'tracked' if s.tracked else 'plain'} {s.verdict}"] += 1

    # Responses changed by tracking: any tracked response unlike the plain one, except the
    # app's own database errors of requests in flight when the connections were killed or
    # sent in the 5 s after (on a loaded machine a request may take seconds).
    kill = run.events.get("pg_kill", math.inf)

    def killed(s: Sample) -> bool:
        return s.verdict == "app-error" and s.sent + s.latency >= kill - 1 and s.sent <= kill + 5

    changed = [s for s in samples if s.tracked and s.verdict not in ("ok", "transport")]
    changed = [s for s in changed if not killed(s)]
    unexpected_plain = [s for s in samples if not s.tracked and s.verdict != "ok"]
    unexpected_plain = [s for s in unexpected_plain if not killed(s)]
    for s in changed:
        log(f"changed by tracking: {s}")
    if changed:
        problems.append(f"{len(changed)} responses changed by tracking")
    # A dropped connection has no body to compare; tracking could only cause them by
    # crashing a worker, which would show as many more on the tracked side.
    dropped = {
        t: sum(s.tracked is t and s.verdict == "transport" for s in samples) for t in (True, False)
    }
    if dropped[True] > 2 * dropped[False] + 3:
        problems.append(f"{dropped[True]} tracked requests dropped, {dropped[False]} plain ones")

    latency: dict[str, Any] = {}
    for server in ("async", "sync"):
        for op in ("mutation", "query"):
            row = {}
            for tracked in (True, False):
                values = [
                    s.latency
                    for s in samples
                    if s.server == server and s.op == op and s.tracked is tracked
                    and s.verdict == "ok"
                ]  # fmt: skip
                key = "with" if tracked else "without"
                row[key] = {
                    "n": len(values),
                    "p50_ms": round(1000 * percentile(values, 0.50), 2),
                    "p99_ms": round(1000 * percentile(values, 0.99), 2),
                }
            row["p50_ratio"] = round(row["with"]["p50_ms"] / row["without"]["p50_ms"], 3)
            row["p99_ratio"] = round(row["with"]["p99_ms"] / row["without"]["p99_ms"], 3)
            latency[f"{server} {op}"] = row

    # What each user did with the extension: their successful tracked mutations.
    activity: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        if s.tracked and s.op == "mutation" and s.verdict == "ok":
            activity[s.user].append(s.sent)
    minimum = sum(minimum_writes(times, cooldown) for times in activity.values())
    writes = sql("SELECT count(*) FROM loadtest_write WHERE kind = 'default'")[0][0]
    stored = {
        username: ts.timestamp()
        for username, ts in sql(
            "SELECT u.username, a.last_activity_at FROM strawberry_activity_useractivity a "
            "JOIN auth_user u ON u.id = a.user_id WHERE a.kind = 'default'"
        )
    }
    lost, worst = [], 0.0
    for user, times in activity.items():
        last = max(times)
        have = stored.get(names[user])
        gap = math.inf if have is None else last - have
        worst = max(worst, gap)
        if gap > cooldown + SLACK:
            lost.append(names[user])
    if lost:
        problems.append(f"{len(lost)} users lost (stored time older than COOLDOWN): {lost[:5]}")
    if minimum and writes > 1.25 * minimum + 5:
        problems.append(f"{writes} writes for a minimum of {minimum}: the cooldown leaks")
    # Per process and cause, one line a minute (tracking.WARNING_INTERVAL), plus margin.
    causes = 4 if faults else 1
    bound = processes * causes * (1 + int(duration // 60)) if faults else 0
    if len(warnings) > bound:
        problems.append(f"{len(warnings)} warnings logged, more than the bound {bound}")

    elapsed = max(s.sent for s in samples) - min(s.sent for s in samples) if samples else 0
    figures = {
        "duration_s": round(elapsed, 1),
        "users": len(names),
        "active_users": len(activity),
        "cooldown_s": cooldown,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1) if elapsed else 0,
        "verdicts": dict(sorted(verdicts.items())),
        "changed_by_tracking": len(changed),
        "dropped_connections": {"with": dropped[True], "without": dropped[False]},
        "plain_unexpected": len(unexpected_plain),
        "latency": latency,
        "writes": writes,
        "minimum_writes": minimum,
        "writes_per_minimum": round(writes / minimum, 3) if minimum else None,
        "lost_users": len(lost),
        "worst_gap_s": round(worst, 3),
        "warnings": len(warnings),
        "warning_bound": bound,
        "connections_killed": run.killed,
        "events": {k: round(v - min(s.sent for s in samples), 1) for k, v in run.events.items()},
    }
    return figures, problems


def print_report(figures: dict[str, Any], problems: list[str]) -> None:
    f = figures
    print()
    print(
        f"requests: {f['requests']} in {f['duration_s']} s ({f['requests_per_s']}/s), "
        f"{f['users']} users ({f['active_users']} with tracked mutations)"
    )
    for verdict, n in f["verdicts"].items():
        print(f"  {verdict:<22} {n}")
    print(f"responses changed by tracking: {f['changed_by_tracking']}")
    print("latency (ok responses)             with p50 / p99 ms    without p50 / p99 ms   ratio")
    for name, row in f["latency"].items():
        w, o = row["with"], row["without"]
        print(
            f"  {name:<16} n={w['n']:>6}/{o['n']:<6} {w['p50_ms']:>8} / {w['p99_ms']:<8} "
            f"{o['p50_ms']:>8} / {o['p99_ms']:<8} {row['p50_ratio']} / {row['p99_ratio']}"
        )
    print(
        f"writes: {f['writes']} (minimum {f['minimum_writes']}: users x cooldown windows, "
        f"ratio {f['writes_per_minimum']})"
    )
    print(
        f"lost users: {f['lost_users']} (worst gap between last mutation and stored time: "
        f"{f['worst_gap_s']} s, COOLDOWN {f['cooldown_s']} s)"
    )
    print(
        f"warnings on strawberry_activity: {f['warnings']} (bound {f['warning_bound']}); "
        f"connections killed: {f['connections_killed']}; events (s): {f['events']}"
    )
    print()
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
    else:
        print("PASSED: nothing lost, no response changed by tracking")
