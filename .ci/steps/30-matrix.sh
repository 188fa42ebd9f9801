#!/usr/bin/env bash
# The support matrix (SPEC §13, docs/versions.md): the compact test set on SQLite in nox's
# CI sessions (`nox -t ci`), which together run every supported Python (3.10-3.13), every
# Django series (5.2, 6.0, 6.1) and both the declared floor and the newest release of
# strawberry-graphql and strawberry-graphql-django. `nox -s floors matrix` runs every
# declared combination. nox and uv come with the dev extra, in .venv (scripts/test built it).
# A session fails on any non-zero pytest exit code, 5 (no test ran) included; below, every
# session listed must have run and passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
mkdir -p .nox
rm -f .nox/ci-report.json .nox/ci.log
# A new machine may lack a Python of the matrix: --error-on-missing-interpreters fails then.
status=0
.venv/bin/nox -t ci --error-on-missing-interpreters --report .nox/ci-report.json \
    2>&1 | tee .nox/ci.log || status=$?
echo "==> support matrix ($(( $(date +%s) - started )) s)"
grep -E "^nox > (Running session|installed:)|^[0-9]+ passed" .nox/ci.log || true
.venv/bin/python - <<'PY'
import json
import subprocess
from pathlib import Path

listed = json.loads(
    subprocess.run(
        [".venv/bin/nox", "-l", "-t", "ci", "--json"], capture_output=True, text=True, check=True
    ).stdout
)
report = json.loads(Path(".nox/ci-report.json").read_text())["sessions"]
ran = {(s["signatures"] or [s["name"]])[0]: s["result"] for s in report}
wanted = [s["session"] for s in listed]
bad = [f"{name}: {ran.get(name, 'did not run')}" for name in wanted if ran.get(name) != "success"]
print(f"{len(wanted) - len(bad)} of {len(wanted)} matrix sessions passed")
if not wanted or bad:
    raise SystemExit("support matrix failed:\n  " + "\n  ".join(bad or ["no session selected"]))
PY
exit "$status"
