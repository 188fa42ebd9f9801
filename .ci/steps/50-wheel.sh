#!/usr/bin/env bash
# The release artefacts: `python -m build` makes an sdist and a wheel, `twine check` passes,
# the wheel holds what a Django app needs at run time, and the wheel (not the checkout),
# installed in a fresh venv, passes the stock-project smoke (scripts/smoke, < 1 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
dist="$(mktemp -d)"
trap 'rm -rf "$dist"' EXIT
.venv/bin/python -m build --outdir "$dist" . >/dev/null
.venv/bin/twine check --strict "$dist"/*
.venv/bin/python - "$dist" <<'PY'
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import strawberry_activity

dist = Path(sys.argv[1])
(wheel,) = dist.glob("strawberry_activity-*.whl")
(sdist,) = dist.glob("strawberry_activity-*.tar.gz")
names = zipfile.ZipFile(wheel).namelist()
required = {
    "py.typed": "strawberry_activity/py.typed",
    "migrations": "strawberry_activity/migrations/0001_initial.py",
    "templates": "strawberry_activity/templates/admin/strawberry_activity/dashboard.html",
    "static files": "strawberry_activity/static/strawberry_activity/dashboard.css",
    "commands": "strawberry_activity/management/commands/activity_metrics.py",
    "SQL recipes": "strawberry_activity/sql/partition_ledger.sql",
}
missing = [what for what, name in required.items() if name not in names]
missing += ["LICENSE"] if not any(n.endswith("/LICENSE") for n in names) else []
missing += [f"tests in the wheel: {n}" for n in names if n.startswith(("tests/", "example_project/"))]
if missing:
    raise SystemExit(f"the wheel is wrong: {missing}")
meta = Parser().parsestr(
    zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
)
if meta["Version"] != strawberry_activity.__version__:
    raise SystemExit(f"wheel version {meta['Version']} != __version__ {strawberry_activity.__version__}")
extras = set(meta.get_all("Provides-Extra") or [])
if not {"prometheus", "opentelemetry", "postgres", "redis"} <= extras:
    raise SystemExit(f"extras missing from the metadata: {sorted(extras)}")
members = tarfile.open(sdist).getnames()
root = sdist.name.removesuffix(".tar.gz")
for name in ("pyproject.toml", "README.md", "LICENSE", "strawberry_activity/migrations/0001_initial.py"):
    if f"{root}/{name}" not in members:
        raise SystemExit(f"the sdist has no {name}")
print(f"{wheel.name}: {len(names)} files, version {meta['Version']}, extras {sorted(extras)}")
print(f"{sdist.name}: {len(members)} files")
PY
bash scripts/smoke "$dist"/strawberry_activity-*.whl
