#!/usr/bin/env bash
# The documentation site builds without a warning, and documents every setting.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python - <<'PY'
from pathlib import Path

from strawberry_activity.conf import DEFAULTS

page = Path("docs/settings.md").read_text()
missing = [name for name in DEFAULTS if f"| `{name}` |" not in page]
if missing:
    raise SystemExit(f"docs/settings.md has no row for: {', '.join(missing)}")
print(f"docs/settings.md documents all {len(DEFAULTS)} settings")
PY
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet
echo "mkdocs build --strict: ok (site/)"
